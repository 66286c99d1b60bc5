package schema

import (
	"bytes"
	"encoding/json"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// The fast path. Decoding an event's data into maps and running the
// library costs about 15µs for a 400-byte event, most of it allocations,
// while nearly every event is valid. A fastSchema is a type's schema when
// it keeps to a subset of keywords (newFast lists them); accepts walks the
// raw bytes of data once against it and says whether data is certainly
// valid. Anything else, whether invalid or beyond what it can decide
// exactly, goes to the library, which gives the violations: the fast path
// may say "not sure" of valid data, never "valid" of invalid data.

// maxFastDepth is how deeply nested objects and arrays accepts walks.
const maxFastDepth = 64

// fastSchema is a schema of the subset, or a boolean schema.
type fastSchema struct {
	never bool    // the schema false
	types typeSet // none: any type

	// Strings.
	minLength, maxLength int // code points; maxLength -1: no limit
	pattern              jsonschema.Regexp
	format               *jsonschema.Format
	enums                [][]string // enum and const: the value must be in each

	// Numbers.
	bounds []bound

	// Arrays.
	items              *fastSchema
	minItems, maxItems int // maxItems -1: no limit

	// Objects. names numbers the members of properties and required:
	// bit i of required stands for the name whose number is i, and subs[i]
	// is the schema of its value.
	names                        map[string]int
	subs                         []*fastSchema
	required                     uint64
	additional                   *fastSchema
	minProperties, maxProperties int // maxProperties -1: no limit
}

// anything is the schema true (and {}); nothing the schema false.
var (
	anything = &fastSchema{maxLength: -1, maxItems: -1, maxProperties: -1}
	nothing  = &fastSchema{never: true}
)

func init() { anything.items, anything.additional = anything, anything }

// typeSet is a set of JSON Schema types.
type typeSet uint8

const (
	typeObject typeSet = 1 << iota
	typeArray
	typeString
	typeNumber
	typeInteger
	typeBoolean
	typeNull
)

var typeNames = map[string]typeSet{
	"object": typeObject, "array": typeArray, "string": typeString, "number": typeNumber,
	"integer": typeInteger, "boolean": typeBoolean, "null": typeNull,
}

// allows says whether a value of type t passes the type keyword.
func (s *fastSchema) allows(t typeSet) bool { return s.types == 0 || s.types&t != 0 }

// bound is minimum, maximum, exclusiveMinimum or exclusiveMaximum.
type bound struct {
	n       number
	sign    int  // the sign of data − n: 1 above a minimum, -1 below a maximum
	orEqual bool // minimum and maximum, not the exclusive ones
}

// newFast returns the fastSchema of the schema document v of typ, nil when
// v uses a keyword outside the subset: annotations (title, description,
// $comment, examples, default, deprecated, readOnly, writeOnly, and $schema
// at the root when it names draft 2020-12), type, properties, required,
// additionalProperties, minProperties, maxProperties, items (one schema),
// minItems, maxItems, minLength, maxLength, pattern, format, enum and const
// of strings, minimum, maximum, exclusiveMinimum, exclusiveMaximum. Among
// those left out are $ref and $defs, the applicators (allOf, oneOf, if…),
// multipleOf, prefixItems and every unknown keyword.
func newFast(typ string, v any) *fastSchema {
	s, ok := buildFast(typ, v, true)
	if !ok {
		return nil
	}
	return s
}

func buildFast(typ string, v any, root bool) (*fastSchema, bool) {
	switch v := v.(type) {
	case bool:
		if v {
			return anything, true
		}
		return nothing, true
	case map[string]any:
		return buildFastObject(typ, v, root)
	}
	return nil, false
}

func buildFastObject(typ string, m map[string]any, root bool) (*fastSchema, bool) {
	s := &fastSchema{maxLength: -1, maxItems: -1, maxProperties: -1, items: anything, additional: anything}
	var props map[string]any
	var required []any
	strKeywords := map[string]any{} // pattern and format
	ok := true
	for k, x := range m {
		switch k {
		case "title", "description", "$comment", "examples", "default", "deprecated", "readOnly", "writeOnly":
		case "$schema":
			ok = root && x == "https://json-schema.org/draft/2020-12/schema"
		case "type":
			s.types, ok = buildTypes(x)
		case "properties":
			props, ok = x.(map[string]any)
		case "required":
			required, ok = x.([]any)
		case "additionalProperties":
			s.additional, ok = buildFast(typ, x, false)
		case "items":
			s.items, ok = buildFast(typ, x, false)
		case "minProperties":
			s.minProperties, ok = count(x)
		case "maxProperties":
			s.maxProperties, ok = count(x)
		case "minItems":
			s.minItems, ok = count(x)
		case "maxItems":
			s.maxItems, ok = count(x)
		case "minLength":
			s.minLength, ok = count(x)
		case "maxLength":
			s.maxLength, ok = count(x)
		case "pattern", "format":
			strKeywords[k] = x
		case "enum":
			var values []any
			values, ok = x.([]any)
			e := make([]string, len(values))
			for i, v := range values {
				e[i], ok = v.(string)
				if !ok {
					break
				}
			}
			s.enums = append(s.enums, e)
		case "const":
			var c string
			c, ok = x.(string)
			s.enums = append(s.enums, []string{c})
		case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
			var n json.Number
			n, ok = x.(json.Number)
			b := bound{n: parseNumber(string(n)), sign: 1, orEqual: k == "minimum" || k == "maximum"}
			if k == "maximum" || k == "exclusiveMaximum" {
				b.sign = -1
			}
			s.bounds = append(s.bounds, b)
		default:
			ok = false
		}
		if !ok {
			return nil, false
		}
	}
	if len(strKeywords) > 0 {
		// As the library compiles them, with the settings of compile: its
		// validator calls these two on a string, and so does validString.
		str, err := compile(typ, strKeywords)
		if err != nil {
			return nil, false
		}
		s.pattern, s.format = str.Pattern, str.Format
	}
	if props != nil || required != nil {
		s.names = map[string]int{}
		for name, x := range props {
			sub, ok := buildFast(typ, x, false)
			if !ok {
				return nil, false
			}
			s.names[name] = len(s.subs)
			s.subs = append(s.subs, sub)
		}
		for _, x := range required {
			name, ok := x.(string)
			if !ok {
				return nil, false
			}
			i, known := s.names[name]
			if !known { // its value is an additional property
				i = len(s.subs)
				s.names[name] = i
				s.subs = append(s.subs, s.additional)
			}
			s.required |= 1 << i
		}
		if len(s.subs) > 64 { // the bits of required and of what accepts has seen
			return nil, false
		}
	}
	return s, true
}

// buildTypes reads the type keyword's value.
func buildTypes(v any) (typeSet, bool) {
	names, ok := v.([]any)
	if !ok {
		names = []any{v}
	}
	var ts typeSet
	for _, n := range names {
		name, _ := n.(string)
		t := typeNames[name]
		if t == 0 {
			return 0, false
		}
		ts |= t
	}
	return ts, ts != 0
}

// count reads the value of a keyword such as minLength, which must be an
// integer written without fraction or exponent.
func count(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(string(n))
	return i, err == nil && i >= 0
}

// number is a JSON number in the forms in which it compares exactly: as an
// int64 when it is an integer literal within range, as a float64 when it
// has at most 15 significant digits and is zero or normal (each decimal of
// 15 digits has a float64 of its own, and rounding keeps their order;
// ParseFloat gives 0 for 1e-400, a subnormal for 1e-310).
type number struct {
	isInt, isFloat bool
	i              int64
	f              float64
}

// parseNumber reads the JSON number lit.
func parseNumber(lit string) number {
	var n number
	i, err := strconv.ParseInt(lit, 10, 64) // fails unless lit is an integer literal
	n.i, n.isInt = i, err == nil
	digits, leading := 0, true // significant digits, counting trailing zeros
	for i := 0; i < len(lit) && lit[i] != 'e' && lit[i] != 'E'; i++ {
		if c := lit[i]; '1' <= c && c <= '9' || c == '0' && !leading {
			digits++
			leading = false
		}
	}
	if digits <= 15 {
		f, err := strconv.ParseFloat(lit, 64)
		n.f, n.isFloat = f, err == nil && (digits == 0 || math.Abs(f) >= 0x1p-1022)
	}
	return n
}

// compare returns the sign of a − b; ok is false when it cannot tell
// exactly.
func compare(a, b number) (sign int, ok bool) {
	switch {
	case a.isInt && b.isInt:
		return cmpOrdered(a.i, b.i), true
	case a.isFloat && b.isFloat:
		return cmpOrdered(a.f, b.f), true
	}
	return 0, false
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// accepts says whether data is certainly valid: it is one JSON value that
// satisfies s, with every number within the limits of numbers.go. False
// means invalid or not sure.
func (s *fastSchema) accepts(data []byte) bool {
	sc := scanner{data: data}
	return s.valid(&sc, 0) && sc.next() == 0 && sc.i == len(data)
}

// valid reads the value at sc and says whether it certainly satisfies s.
func (s *fastSchema) valid(sc *scanner, depth int) bool {
	if s.never || depth > maxFastDepth {
		return false
	}
	switch c := sc.next(); {
	case c == '{':
		return s.validObject(sc, depth)
	case c == '[':
		return s.validArray(sc, depth)
	case c == '"':
		return s.validString(sc)
	case c == '-' || '0' <= c && c <= '9':
		return s.validNumber(sc)
	case c == 't':
		return s.allows(typeBoolean) && s.enums == nil && sc.literal("true")
	case c == 'f':
		return s.allows(typeBoolean) && s.enums == nil && sc.literal("false")
	case c == 'n':
		return s.allows(typeNull) && s.enums == nil && sc.literal("null")
	}
	return false
}

func (s *fastSchema) validObject(sc *scanner, depth int) bool {
	if !s.allows(typeObject) || s.enums != nil {
		return false
	}
	var seen uint64 // bits as in required
	others := 0     // members not in names
	n, ok := sc.list('}', func() bool {
		i, known, ok := s.name(sc)
		if !ok || sc.next() != ':' {
			return false
		}
		sc.i++
		sub := s.additional
		if known {
			if seen&(1<<i) != 0 { // a duplicate: encoding/json keeps the last
				return false
			}
			seen |= 1 << i
			sub = s.subs[i]
		} else {
			others++
		}
		return sub.valid(sc, depth+1)
	})
	// n counts the duplicates among the others, if any, which is safe for
	// maxProperties; for minProperties, only one of them is sure to count.
	distinct := bits.OnesCount64(seen) + min(others, 1)
	return ok && seen&s.required == s.required && distinct >= s.minProperties &&
		(s.maxProperties < 0 || n <= s.maxProperties)
}

// name reads a member's name and returns its number in names.
func (s *fastSchema) name(sc *scanner) (i int, known, ok bool) {
	if sc.next() != '"' {
		return 0, false, false
	}
	name, ok := sc.str()
	if !ok {
		return 0, false, false
	}
	i, known = s.names[string(name)]
	return i, known, true
}

func (s *fastSchema) validArray(sc *scanner, depth int) bool {
	if !s.allows(typeArray) || s.enums != nil {
		return false
	}
	n, ok := sc.list(']', func() bool { return s.items.valid(sc, depth+1) })
	return ok && n >= s.minItems && (s.maxItems < 0 || n <= s.maxItems)
}

func (s *fastSchema) validString(sc *scanner) bool {
	text, ok := sc.str()
	if !ok || !s.allows(typeString) {
		return false
	}
	if s.minLength == 0 && s.maxLength < 0 && s.pattern == nil && s.format == nil && s.enums == nil {
		return true
	}
	v := string(text)
	if n := utf8.RuneCountInString(v); n < s.minLength || s.maxLength >= 0 && n > s.maxLength {
		return false
	}
	for _, e := range s.enums {
		if !contains(e, v) {
			return false
		}
	}
	return (s.pattern == nil || s.pattern.MatchString(v)) && (s.format == nil || s.format.Validate(v) == nil)
}

func contains(e []string, v string) bool {
	for _, x := range e {
		if x == v {
			return true
		}
	}
	return false
}

func (s *fastSchema) validNumber(sc *scanner) bool {
	lit, integer, ok := sc.number()
	if !ok || !withinLimits(string(lit)) || s.enums != nil {
		return false
	}
	if !s.allows(typeNumber) && !(integer && s.types&typeInteger != 0) {
		return false
	}
	if len(s.bounds) == 0 {
		return true
	}
	n := parseNumber(string(lit))
	for _, b := range s.bounds {
		sign, ok := compare(n, b.n)
		if !ok || sign != b.sign && !(sign == 0 && b.orEqual) {
			return false
		}
	}
	return true
}

// scanner reads the JSON text data with jsonscan, sluice's one JSON
// scanner: as strictly as encoding/json does, and strings must be UTF-8
// (a text with other bytes is "not sure", left to the full validator).
type scanner struct {
	data []byte
	i    int
}

// next skips whitespace and returns the byte at sc.i, 0 at the end.
func (sc *scanner) next() byte {
	if sc.i = jsonscan.SkipSpace(sc.data, sc.i); sc.i < len(sc.data) {
		return sc.data[sc.i]
	}
	return 0
}

// list reads an object's members or an array's elements, from the opening
// bracket to end, the closing one; each reads one and says whether it is
// valid. n is how many there are.
func (sc *scanner) list(end byte, each func() bool) (n int, ok bool) {
	sc.i++
	if sc.next() == end {
		sc.i++
		return 0, true
	}
	for {
		if !each() {
			return n, false
		}
		n++
		switch sc.next() {
		case end:
			sc.i++
			return n, true
		case ',':
			sc.i++
		default:
			return n, false
		}
	}
}

// literal reads want (true, false or null).
func (sc *scanner) literal(want string) bool {
	end, err := jsonscan.Literal(sc.data, sc.i, want)
	sc.i = end
	return err == nil
}

// str reads a string and returns its text as encoding/json decodes it: a
// slice of data unless it has escapes.
func (sc *scanner) str() (text []byte, ok bool) {
	end, plain, err := jsonscan.String(sc.data, sc.i)
	if err != nil {
		return nil, false
	}
	text, sc.i = jsonscan.Unquote(sc.data[sc.i:end], plain), end
	return text, true
}

// number reads a number; integer says that it has neither fraction nor
// exponent.
func (sc *scanner) number() (lit []byte, integer, ok bool) {
	end, err := jsonscan.Number(sc.data, sc.i)
	if err != nil {
		return nil, false, false
	}
	lit, sc.i = sc.data[sc.i:end], end
	return lit, !bytes.ContainsAny(lit, ".eE"), true
}
