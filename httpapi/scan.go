package httpapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// unquote returns the text of the JSON string token tok as encoding/json
// would read it (invalid UTF-8 becomes U+FFFD): a slice of tok when it can.
func unquote(tok []byte, plain bool) []byte {
	s := tok[1 : len(tok)-1]
	if plain || bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return s
	}
	var text string
	_ = json.Unmarshal(tok, &text) // tok is a valid string token: no error
	return []byte(text)
}

// objectReader reads the members of the object at b[i], nested in depth
// containers. After next returns a member, i is the offset of its value, and
// the caller moves i past the value.
type objectReader struct {
	b     []byte
	i     int
	depth int
	n     int // members read
}

// next reads up to the next member's value and returns the member's name,
// unquoted and as the token sent; ok is false at the object's end, after
// which i is the offset after it.
func (o *objectReader) next() (key, rawKey []byte, ok bool, err *syntaxError) {
	b, i := o.b, o.i
	if o.n == 0 {
		if o.depth >= maxDepth {
			return nil, nil, false, tooDeep(i)
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			o.i = i + 1
			return nil, nil, false, nil
		}
	} else {
		i = skipSpace(b, i)
		switch {
		case i == len(b):
			return nil, nil, false, unexpectedEnd(b)
		case b[i] == '}':
			o.i = i + 1
			return nil, nil, false, nil
		case b[i] != ',':
			return nil, nil, false, invalidChar(b, i, "after an object member; expected ',' or '}'")
		}
		i = skipSpace(b, i+1)
	}
	end, v, plain, err := memberName(b, i)
	if err != nil {
		return nil, nil, false, err
	}
	o.i, o.n = v, o.n+1
	rawKey = b[i:end]
	return unquote(rawKey, plain), rawKey, true, nil
}

// memberName reads a member's name at b[i] and the ':' after it. It
// returns where the name ends, where the value starts, and whether the name
// is plain (see scanString).
func memberName(b []byte, i int) (end, v int, plain bool, err *syntaxError) {
	if i == len(b) {
		return i, i, false, unexpectedEnd(b)
	}
	if b[i] != '"' {
		return i, i, false, invalidChar(b, i, "looking for the beginning of an object member's name")
	}
	if end, plain, err = scanString(b, i); err != nil {
		return end, end, false, err
	}
	v = skipSpace(b, end)
	if v == len(b) {
		return end, v, false, unexpectedEnd(b)
	}
	if b[v] != ':' {
		return end, v, false, invalidChar(b, v, "after an object member's name; expected ':'")
	}
	if v = skipSpace(b, v+1); v == len(b) {
		return end, v, false, unexpectedEnd(b)
	}
	return end, v, plain, nil
}

// maxDepth is the deepest nesting of arrays and objects accepted, as in
// encoding/json.
const maxDepth = 10000

// syntaxError says why a body is not JSON and where.
type syntaxError struct {
	Offset int
	Msg    string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("%s at byte offset %d", e.Msg, e.Offset)
}

func unexpectedEnd(b []byte) *syntaxError {
	return &syntaxError{Offset: len(b), Msg: "unexpected end of JSON input"}
}

func tooDeep(i int) *syntaxError {
	return &syntaxError{Offset: i, Msg: fmt.Sprintf("nesting deeper than %d", maxDepth)}
}

// invalidChar reports the byte at b[i], which was not expected where.
func invalidChar(b []byte, i int, where string) *syntaxError {
	c := fmt.Sprintf("%q", b[i])
	if b[i] >= 0x80 {
		c = fmt.Sprintf("byte 0x%02x", b[i])
	}
	return &syntaxError{Offset: i, Msg: "invalid character " + c + " " + where}
}

// skipSpace returns the offset of the first byte from i on that is not JSON
// whitespace.
func skipSpace(b []byte, i int) int {
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

// skipValue reads the JSON value at b[i], nested in depth containers, and
// returns the offset after it.
func skipValue(b []byte, i, depth int) (int, *syntaxError) {
	var stackBuf [32]byte
	stack := stackBuf[:0] // the closing byte of each open container
	var err *syntaxError
	for {
		// A value starts at i.
		if i = skipSpace(b, i); i == len(b) {
			return i, unexpectedEnd(b)
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth+len(stack) >= maxDepth {
				return i, tooDeep(i)
			}
			closer := c + 2 // '}' or ']'
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == closer {
				i++
				break
			}
			stack = append(stack, closer)
			if c == '{' {
				if _, i, _, err = memberName(b, i); err != nil {
					return i, err
				}
			}
			continue
		case '"':
			i, _, err = scanString(b, i)
		case 't':
			i, err = literal(b, i, "true")
		case 'f':
			i, err = literal(b, i, "false")
		case 'n':
			i, err = literal(b, i, "null")
		default:
			i, err = number(b, i)
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
func afterValue(b []byte, i int, stack []byte) (int, []byte, *syntaxError) {
	for len(stack) > 0 {
		if i = skipSpace(b, i); i == len(b) {
			return i, stack, unexpectedEnd(b)
		}
		closer := stack[len(stack)-1]
		switch b[i] {
		case closer:
			stack = stack[:len(stack)-1]
			i++
		case ',':
			i = skipSpace(b, i+1)
			if closer == '}' {
				var err *syntaxError
				_, i, _, err = memberName(b, i)
				return i, stack, err
			}
			return i, stack, nil
		default:
			if closer == '}' {
				return i, stack, invalidChar(b, i, "after an object member; expected ',' or '}'")
			}
			return i, stack, invalidChar(b, i, "after an array element; expected ',' or ']'")
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

// scanString reads the JSON string at b[i] (a '"') and returns the offset
// after it, and whether it is plain: ASCII without escapes, its text the
// bytes between the quotes.
func scanString(b []byte, i int) (end int, plain bool, err *syntaxError) {
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
			return i, false, unexpectedEnd(b)
		}
		switch b[i] {
		case '"':
			if high&highs != 0 {
				if bad := invalidUTF8(b[start:i]); bad >= 0 {
					return start + bad, false, &syntaxError{Offset: start + bad, Msg: "invalid UTF-8 in a string"}
				}
			}
			return i + 1, !escaped && high&highs == 0, nil
		case '\\':
			escaped = true
			if i, err = escape(b, i); err != nil {
				return i, false, err
			}
		default:
			return i, false, invalidChar(b, i, "in a string (control characters must be escaped)")
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
func escape(b []byte, i int) (int, *syntaxError) {
	i++
	if i == len(b) {
		return i, unexpectedEnd(b)
	}
	switch b[i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i, nil
	case 'u':
		for k := 0; k < 4; k++ {
			if i++; i == len(b) {
				return i, unexpectedEnd(b)
			}
			if !isHex(b[i]) {
				return i, invalidChar(b, i, "in a \\u escape")
			}
		}
		return i, nil
	}
	return i, invalidChar(b, i, "in an escape sequence")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// literal reads lit (true, false or null) at b[i].
func literal(b []byte, i int, lit string) (int, *syntaxError) {
	for k := 0; k < len(lit); k, i = k+1, i+1 {
		if i == len(b) {
			return i, unexpectedEnd(b)
		}
		if b[i] != lit[k] {
			return i, invalidChar(b, i, "in literal "+lit)
		}
	}
	return i, nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func number(b []byte, i int) (int, *syntaxError) {
	if b[i] == '-' {
		if i++; i == len(b) {
			return i, unexpectedEnd(b)
		}
		if !isDigit(b[i]) {
			return i, invalidChar(b, i, "in a number")
		}
	}
	switch {
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		i = digits(b, i)
	default:
		return i, invalidChar(b, i, "looking for the beginning of a value")
	}
	var err *syntaxError
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
func digitsAfter(b []byte, i int) (int, *syntaxError) {
	switch {
	case i == len(b):
		return i, unexpectedEnd(b)
	case !isDigit(b[i]):
		return i, invalidChar(b, i, "in a number")
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
