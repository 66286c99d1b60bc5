package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Valid reports whether b is exactly one JSON value (RFC 8259) with
// optional whitespace around it, its strings UTF-8: what encoding/json.Valid
// says, except that it also refuses invalid UTF-8 (FuzzValid checks both).
func Valid(b []byte) bool {
	end, err := SkipValue(b, 0, 0)
	return err == nil && SkipSpace(b, end) == len(b)
}

// Unquote returns the text of the JSON string token tok as encoding/json
// would read it (invalid UTF-8 becomes U+FFFD): a slice of tok when it can.
func Unquote(tok []byte, plain bool) []byte {
	s := tok[1 : len(tok)-1]
	if plain || bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return s
	}
	var text string
	_ = json.Unmarshal(tok, &text) // tok is a valid string token: no error
	return []byte(text)
}

// ObjectReader reads the members of the object at B[Pos], nested in Depth
// containers. After Next returns a member, Pos is the offset of its value,
// and the caller moves Pos past the value.
type ObjectReader struct {
	B     []byte
	Pos   int
	Depth int
	n     int // members read
}

// Next reads up to the next member's value and returns the member's name,
// unquoted and as the token sent; ok is false at the object's end, after
// which Pos is the offset after it.
func (o *ObjectReader) Next() (key, rawKey []byte, ok bool, err *SyntaxError) {
	b, i := o.B, o.Pos
	if o.n == 0 {
		if o.Depth >= MaxDepth {
			return nil, nil, false, tooDeep(i)
		}
		i = SkipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			o.Pos = i + 1
			return nil, nil, false, nil
		}
	} else {
		i = SkipSpace(b, i)
		switch {
		case i == len(b):
			return nil, nil, false, UnexpectedEnd(b)
		case b[i] == '}':
			o.Pos = i + 1
			return nil, nil, false, nil
		case b[i] != ',':
			return nil, nil, false, InvalidChar(b, i, "after an object member; expected ',' or '}'")
		}
		i = SkipSpace(b, i+1)
	}
	end, v, plain, err := MemberName(b, i)
	if err != nil {
		return nil, nil, false, err
	}
	o.Pos, o.n = v, o.n+1
	rawKey = b[i:end]
	return Unquote(rawKey, plain), rawKey, true, nil
}

// MemberName reads a member's name at b[i] and the ':' after it. It
// returns where the name ends, where the value starts, and whether the name
// is plain (see String).
func MemberName(b []byte, i int) (end, v int, plain bool, err *SyntaxError) {
	if i == len(b) {
		return i, i, false, UnexpectedEnd(b)
	}
	if b[i] != '"' {
		return i, i, false, InvalidChar(b, i, "looking for the beginning of an object member's name")
	}
	if end, plain, err = String(b, i); err != nil {
		return end, end, false, err
	}
	v = SkipSpace(b, end)
	if v == len(b) {
		return end, v, false, UnexpectedEnd(b)
	}
	if b[v] != ':' {
		return end, v, false, InvalidChar(b, v, "after an object member's name; expected ':'")
	}
	if v = SkipSpace(b, v+1); v == len(b) {
		return end, v, false, UnexpectedEnd(b)
	}
	return end, v, plain, nil
}

// MaxDepth is the deepest nesting of arrays and objects accepted, as in
// encoding/json.
const MaxDepth = 10000

// SyntaxError says why a text is not JSON and where.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at byte offset %d", e.Msg, e.Offset)
}

// UnexpectedEnd reports that b ends inside a value.
func UnexpectedEnd(b []byte) *SyntaxError {
	return &SyntaxError{Offset: len(b), Msg: "unexpected end of JSON input"}
}

func tooDeep(i int) *SyntaxError {
	return &SyntaxError{Offset: i, Msg: fmt.Sprintf("nesting deeper than %d", MaxDepth)}
}

// InvalidChar reports the byte at b[i], which was not expected where.
func InvalidChar(b []byte, i int, where string) *SyntaxError {
	c := fmt.Sprintf("%q", b[i])
	if b[i] >= 0x80 {
		c = fmt.Sprintf("byte 0x%02x", b[i])
	}
	return &SyntaxError{Offset: i, Msg: "invalid character " + c + " " + where}
}

// SkipSpace returns the offset of the first byte from i on that is not JSON
// whitespace.
func SkipSpace(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// SkipValue reads the JSON value at b[i] (after any whitespace), nested in
// depth containers, and returns the offset after it.
func SkipValue(b []byte, i, depth int) (int, *SyntaxError) {
	var stackBuf [32]byte
	stack := stackBuf[:0] // the closing byte of each open container
	var err *SyntaxError
	for {
		// A value starts at i.
		if i = SkipSpace(b, i); i == len(b) {
			return i, UnexpectedEnd(b)
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth+len(stack) >= MaxDepth {
				return i, tooDeep(i)
			}
			closer := c + 2 // '}' or ']'
			i = SkipSpace(b, i+1)
			if i < len(b) && b[i] == closer {
				i++
				break
			}
			stack = append(stack, closer)
			if c == '{' {
				if _, i, _, err = MemberName(b, i); err != nil {
					return i, err
				}
			}
			continue
		case '"':
			i, _, err = String(b, i)
		case 't':
			i, err = Literal(b, i, "true")
		case 'f':
			i, err = Literal(b, i, "false")
		case 'n':
			i, err = Literal(b, i, "null")
		default:
			i, err = Number(b, i)
		}
		if err != nil {
			return i, err
		}
		// A value ended at i: close containers, or go on to the next value.
		if i, stack, err = afterValue(b, i, stack); err != nil || len(stack) == 0 {
			return i, err
		}
	}
}

// afterValue reads what follows a value that ended at i inside the open
// containers of stack: the closing of containers, then a ',' and, in an
// object, the next member's name. It returns where the next value starts
// and the containers still open; with none open, the offset after the last.
func afterValue(b []byte, i int, stack []byte) (int, []byte, *SyntaxError) {
	for len(stack) > 0 {
		if i = SkipSpace(b, i); i == len(b) {
			return i, stack, UnexpectedEnd(b)
		}
		closer := stack[len(stack)-1]
		switch b[i] {
		case closer:
			stack = stack[:len(stack)-1]
			i++
		case ',':
			i = SkipSpace(b, i+1)
			if closer == '}' {
				var err *SyntaxError
				_, i, _, err = MemberName(b, i)
				return i, stack, err
			}
			return i, stack, nil
		default:
			if closer == '}' {
				return i, stack, InvalidChar(b, i, "after an object member; expected ',' or '}'")
			}
			return i, stack, InvalidChar(b, i, "after an array element; expected ',' or ']'")
		}
	}
	return i, stack, nil
}

// stringByte marks the bytes that stand for themselves in a JSON string:
// all but control characters, '"' and '\\'.
var stringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Bytes repeated in a word, for scanning strings eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special reports whether one of the eight bytes of w is a '"', a '\\' or a
// control character: the bytes that end a string's plain run.
func special(w uint64) bool {
	quote, backslash := w^(ones*'"'), w^(ones*'\\')
	zeroQuote := (quote - ones) &^ quote
	zeroBackslash := (backslash - ones) &^ backslash
	control := (w - ones*0x20) &^ w
	return (zeroQuote|zeroBackslash|control)&highs != 0
}

// String reads the JSON string at b[i] (a '"') and returns the offset
// after it, and whether it is plain: ASCII without escapes, its text the
// bytes between the quotes.
func String(b []byte, i int) (end int, plain bool, err *SyntaxError) {
	var high uint64 // the bytes of the string ORed, to tell ASCII
	escaped := false
	start := i + 1
	for i++; ; i++ {
		for ; i+8 <= len(b); i += 8 {
			w := binary.LittleEndian.Uint64(b[i:])
			if special(w) {
				break
			}
			high |= w
		}
		for i < len(b) && stringByte[b[i]] {
			high |= uint64(b[i])
			i++
		}
		if i == len(b) {
			return i, false, UnexpectedEnd(b)
		}
		switch b[i] {
		case '"':
			if high&highs != 0 {
				if bad := invalidUTF8(b[start:i]); bad >= 0 {
					return start + bad, false, &SyntaxError{Offset: start + bad, Msg: "invalid UTF-8 in a string"}
				}
			}
			return i + 1, !escaped && high&highs == 0, nil
		case '\\':
			escaped = true
			if i, err = escape(b, i); err != nil {
				return i, false, err
			}
		default:
			return i, false, InvalidChar(b, i, "in a string (control characters must be escaped)")
		}
	}
}

// invalidUTF8 returns the offset of the first byte of s that is not valid
// UTF-8, or -1. JSON text is UTF-8 (RFC 8259, section 8.1): a body with
// other bytes in a string is malformed, rather than stored with bytes that
// no reader can decode (encoding/json alone would let them through).
func invalidUTF8(s []byte) int {
	if utf8.Valid(s) {
		return -1
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// escape checks the escape sequence at b[i] (a '\\') and returns the offset
// of its last byte.
func escape(b []byte, i int) (int, *SyntaxError) {
	i++
	if i == len(b) {
		return i, UnexpectedEnd(b)
	}
	switch b[i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i, nil
	case 'u':
		for k := 0; k < 4; k++ {
			if i++; i == len(b) {
				return i, UnexpectedEnd(b)
			}
			if !isHex(b[i]) {
				return i, InvalidChar(b, i, "in a \\u escape")
			}
		}
		return i, nil
	}
	return i, InvalidChar(b, i, "in an escape sequence")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Literal reads lit (true, false or null) at b[i].
func Literal(b []byte, i int, lit string) (int, *SyntaxError) {
	for k := 0; k < len(lit); k, i = k+1, i+1 {
		if i == len(b) {
			return i, UnexpectedEnd(b)
		}
		if b[i] != lit[k] {
			return i, InvalidChar(b, i, "in literal "+lit)
		}
	}
	return i, nil
}

// Number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func Number(b []byte, i int) (int, *SyntaxError) {
	if b[i] == '-' {
		if i++; i == len(b) {
			return i, UnexpectedEnd(b)
		}
		if !isDigit(b[i]) {
			return i, InvalidChar(b, i, "in a number")
		}
	}
	switch {
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		i = digits(b, i)
	default:
		return i, InvalidChar(b, i, "looking for the beginning of a value")
	}
	var err *SyntaxError
	if i < len(b) && b[i] == '.' {
		if i, err = digitsAfter(b, i+1); err != nil {
			return i, err
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, err = digitsAfter(b, i); err != nil {
			return i, err
		}
	}
	return i, nil
}

// digitsAfter reads the digits of a number's fraction or exponent, at
// least one, at b[i].
func digitsAfter(b []byte, i int) (int, *SyntaxError) {
	switch {
	case i == len(b):
		return i, UnexpectedEnd(b)
	case !isDigit(b[i]):
		return i, InvalidChar(b, i, "in a number")
	}
	return digits(b, i), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}
