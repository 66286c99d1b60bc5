package schema

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// shopOrder uses every keyword of the fast path's subset.
const shopOrder = `{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"title": "An order", "description": "…", "$comment": "fast path", "examples": [{}], "deprecated": false,
	"type": "object",
	"required": ["id", "items", "total"],
	"additionalProperties": false,
	"properties": {
		"id": {"type": "string", "format": "uuid", "readOnly": true},
		"email": {"type": "string", "format": "email", "default": "a@b.c"},
		"at": {"type": "string", "format": "date-time"},
		"site": {"type": "string", "format": "uri", "writeOnly": false},
		"code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$", "minLength": 4, "maxLength": 8},
		"name": {"type": "string", "minLength": 2, "maxLength": 3},
		"status": {"enum": ["new", "paid", "shipped"]},
		"kind": {"const": "order", "enum": ["order", "refund"]},
		"total": {"type": "number", "minimum": 0, "exclusiveMaximum": 1e6},
		"discount": {"type": "number", "exclusiveMinimum": -0.5, "maximum": 99.99},
		"items": {
			"type": "array", "minItems": 1, "maxItems": 3,
			"items": {
				"type": "object",
				"required": ["sku", "qty", "note"],
				"properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1, "maximum": 100}},
				"additionalProperties": {"type": ["string", "null"]}
			}
		},
		"meta": {
			"type": "object", "minProperties": 1, "maxProperties": 3,
			"additionalProperties": {"type": "integer", "minimum": -9007199254740993, "maximum": 123456789012345678}
		},
		"flags": {"type": "array", "items": {"type": "boolean"}},
		"level": {"maximum": 0, "exclusiveMinimum": -1e-300},
		"legacy": false,
		"any": true
	}
}`

// list is an array of short strings or null.
const list = `{"type": ["array", "null"], "items": {"type": "string", "maxLength": 3}}`

// validShopOrder is valid against shopOrder. An item's note is required
// without being in properties: additionalProperties applies to it.
const validShopOrder = `{"id": "5f0c6a8e-2b1d-4e7f-9c3a-8d4b2e6f1a07", "email": "ada@example.com",
	"at": "2025-03-14T15:09:26.535Z", "site": "https://shop.example.com/x?y=1", "code": "AB-12",
	"status": "paid", "kind": "order", "total": 42.5, "discount": 0,
	"items": [{"sku": "SKU-1", "qty": 2, "note": "gift"}, {"sku": "SKU-2", "qty": 1, "note": null}],
	"meta": {"a": 1}, "flags": [true, false], "any": {"x": [1, null, "y"]}}`

// fastTestRegistries returns a Registry with doc as the schema of type
// "t" and the same Registry without the fast path.
func fastTestRegistries(tb testing.TB, doc string) (fast, slow *Registry) {
	tb.Helper()
	p, err := prepare("t", []byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	if p.fast == nil {
		tb.Fatalf("no fast schema for %s", doc)
	}
	fast, slow = New(nil, Options{}), New(nil, Options{})
	fast.install(&compiled{typ: "t", version: 1, schema: p.schema, fast: p.fast})
	slow.install(&compiled{typ: "t", version: 1, schema: p.schema})
	return fast, slow
}

func TestFastPath(t *testing.T) {
	t.Parallel()
	nested := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	for _, tc := range []struct {
		name, schema, data string
		accepted           bool // by the fast path; otherwise the library decides
	}{
		{"Valid", shopOrder, validShopOrder, true},
		{"Minimal", shopOrder, `{"id":"5f0c6a8e-2b1d-4e7f-9c3a-8d4b2e6f1a07","items":[{"sku":"","qty":100,"note":""}],"total":0}`, true},
		{"RequiredAdditional", shopOrder, strings.Replace(validShopOrder, `, "note": "gift"`, ``, 1), false},
		{"Escapes", list, `["\u00e9\"\/", "\ud83d\ude00", "a\tb"]`, true},
		{"EscapedName", shopOrder, strings.Replace(validShopOrder, `"code"`, `"\u0063ode"`, 1), true},
		{"EscapedEnum", shopOrder, strings.Replace(validShopOrder, `"paid"`, `"p\u0061id"`, 1), true},
		// Not JSON text (RFC 8259 §8.1): jsonscan says so, and the fast
		// path leaves it to the full validator (the edge refuses it first).
		{"InvalidUTF8", list, "[\"\xff\xfe\"]", false},
		{"InvalidUTF8TooLong", list, "[\"\xff\xfeab\"]", false},
		{"LoneSurrogate", list, `["\ud800ab"]`, true},
		{"Null", list, ` null `, true},
		{"NoSchemaLeftUnchecked", list, `[1]`, false},
		{"MissingRequired", shopOrder, strings.Replace(validShopOrder, `"total"`, `"totl"`, 1), false},
		{"DuplicateName", shopOrder, strings.Replace(validShopOrder, `"any"`, `"total"`, 1), false},
		{"DuplicateExtraNames", shopOrder, strings.Replace(validShopOrder, `{"a": 1}`, `{"a": 1, "a": 2}`, 1), true},
		{"TooManyProperties", shopOrder, strings.Replace(validShopOrder, `{"a": 1}`, `{"a": 1, "b": 2, "c": 3, "d": 4}`, 1), false},
		{"TooFewProperties", shopOrder, strings.Replace(validShopOrder, `{"a": 1}`, `{}`, 1), false},
		{"AdditionalProperty", shopOrder, strings.Replace(validShopOrder, `"any"`, `"other"`, 1), false},
		{"FalseSchema", shopOrder, strings.Replace(validShopOrder, `"any"`, `"legacy"`, 1), false},
		{"AdditionalSchema", shopOrder, strings.Replace(validShopOrder, `"note": "gift"`, `"note": 1`, 1), false},
		{"Type", shopOrder, strings.Replace(validShopOrder, `"total": 42.5`, `"total": "42.5"`, 1), false},
		{"IntegerWithFraction", shopOrder, strings.Replace(validShopOrder, `"qty": 2`, `"qty": 2.0`, 1), false}, // valid, but not sure
		{"IntegerNotOne", shopOrder, strings.Replace(validShopOrder, `"qty": 2`, `"qty": 2.5`, 1), false},
		{"Minimum", shopOrder, strings.Replace(validShopOrder, `"qty": 2`, `"qty": 0`, 1), false},
		{"Maximum", shopOrder, strings.Replace(validShopOrder, `"qty": 2`, `"qty": 100`, 1), true},
		{"AboveMaximum", shopOrder, strings.Replace(validShopOrder, `"qty": 2`, `"qty": 101`, 1), false},
		{"ExclusiveMaximum", shopOrder, strings.Replace(validShopOrder, `"total": 42.5`, `"total": 1000000`, 1), false},
		{"BelowExclusiveMaximum", shopOrder, strings.Replace(validShopOrder, `"total": 42.5`, `"total": 999999.999999`, 1), true},
		{"NegativeZero", shopOrder, strings.Replace(validShopOrder, `"total": 42.5`, `"total": -0.0e5`, 1), true},
		{"ExclusiveMinimum", shopOrder, strings.Replace(validShopOrder, `"discount": 0`, `"discount": -5e-1`, 1), false},
		{"AboveExclusiveMinimum", shopOrder, strings.Replace(validShopOrder, `"discount": 0`, `"discount": -0.49999`, 1), true},
		{"FractionalMaximum", shopOrder, strings.Replace(validShopOrder, `"discount": 0`, `"discount": 99.990000000000001`, 1), false}, // too many digits
		{"Underflow", shopOrder, strings.Replace(validShopOrder, `"any"`, `"level": 1e-400, "any"`, 1), false},
		{"Subnormal", shopOrder, strings.Replace(validShopOrder, `"any"`, `"level": -1e-310, "any"`, 1), false},
		{"NegativeZeroLevel", shopOrder, strings.Replace(validShopOrder, `"any"`, `"level": -0, "any"`, 1), true},
		{"LargeIntegerBounds", shopOrder, strings.Replace(validShopOrder, `{"a": 1}`, `{"a": -9007199254740993, "b": 123456789012345678}`, 1), true},
		{"BeyondLargeIntegerBound", shopOrder, strings.Replace(validShopOrder, `{"a": 1}`, `{"a": 123456789012345679}`, 1), false},
		{"NumberTooLong", shopOrder, strings.Replace(validShopOrder, `"any": {`, `"any": {"n": 1`+strings.Repeat("0", 100)+`, `, 1), false},
		{"ExponentTooLarge", shopOrder, strings.Replace(validShopOrder, `"any": {`, `"any": {"n": 1e1001, `, 1), false},
		{"Format", shopOrder, strings.Replace(validShopOrder, `ada@example.com`, `ada.example.com`, 1), false},
		{"Pattern", shopOrder, strings.Replace(validShopOrder, `AB-12`, `ab-12`, 1), false},
		{"MaxLength", shopOrder, strings.Replace(validShopOrder, `AB-12`, `AB-123456`, 1), false},
		{"CodePoints", shopOrder, strings.Replace(validShopOrder, `"code"`, `"name": "été", "code"`, 1), true},
		{"MinLength", shopOrder, strings.Replace(validShopOrder, `"code"`, `"name": "é", "code"`, 1), false},
		{"Enum", shopOrder, strings.Replace(validShopOrder, `"paid"`, `"lost"`, 1), false},
		{"EnumNotString", shopOrder, strings.Replace(validShopOrder, `"paid"`, `1`, 1), false},
		{"Const", shopOrder, strings.Replace(validShopOrder, `"kind": "order"`, `"kind": "refund"`, 1), false},
		{"MinItems", shopOrder, strings.Replace(validShopOrder, `[true, false]`, `[]`, 1), true},
		{"MaxItems", shopOrder, strings.Replace(validShopOrder, `{"sku": "SKU-2", "qty": 1, "note": null}`, `{"sku": "2", "qty": 1, "note": ""}, {"sku": "3", "qty": 1, "note": ""}, {"sku": "4", "qty": 1, "note": ""}`, 1), false},
		{"Items", shopOrder, strings.Replace(validShopOrder, `[true, false]`, `[true, 0]`, 1), false},
		{"TooDeep", `{}`, nested, false},
		{"TrailingData", `{}`, `{} {}`, false},
		{"TrailingComma", `{}`, `{"a": 1,}`, false},
		{"ControlCharacter", `{}`, "[\"a\nb\"]", false},
		{"BadEscape", `{}`, `["\x"]`, false},
		{"LeadingZero", `{}`, `[01]`, false},
		{"Empty", `{}`, ``, false},
		{"Truncated", `{}`, `{"a": tru`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fast, slow := fastTestRegistries(t, tc.schema)
			c := (*fast.cache.Load())["t"]
			if got := c.fast.accepts([]byte(tc.data)); got != tc.accepted {
				t.Errorf("accepts = %t, want %t", got, tc.accepted)
			}
			_, got := fast.Validate("t", []byte(tc.data))
			_, want := slow.Validate("t", []byte(tc.data))
			if !slices.Equal(got, want) {
				t.Errorf("Validate gives %+v, without the fast path %+v", got, want)
			}
		})
	}

	t.Run("Testdata", func(t *testing.T) {
		t.Parallel()
		for name, supported := range map[string]bool{"page.viewed": true, "order.placed": false} {
			doc, err := os.ReadFile("testdata/schemas/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			p, err := prepare(name, doc)
			if err != nil {
				t.Fatal(err)
			}
			if (p.fast != nil) != supported {
				t.Errorf("%s: fast schema %v, want one: %t", name, p.fast, supported)
			}
		}
	})

	t.Run("Unsupported", func(t *testing.T) {
		t.Parallel()
		for _, doc := range []string{
			`{"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}}`,
			`{"properties": {"a": {"oneOf": [{"type": "string"}, {"type": "null"}]}}}`,
			`{"items": {"multipleOf": 2}}`,
			`{"prefixItems": [{"type": "string"}]}`,
			`{"properties": {"a": {"x-unit": "ms"}}}`,
			`{"enum": ["a", 1]}`,
			`{"const": null}`,
			`{"$id": "https://example.com/s"}`,
			`{"properties": {"a": {"$schema": "https://json-schema.org/draft/2020-12/schema"}}}`,
			`{"$schema": "http://json-schema.org/draft-07/schema#"}`,
			`{"minLength": 1.0}`,
		} {
			p, err := prepare("t", []byte(doc))
			if err != nil {
				t.Fatalf("%s: %v", doc, err)
			}
			if p.fast != nil {
				t.Errorf("%s: got a fast schema", doc)
			}
		}
	})
}

// FuzzFastPath checks the fast path against the library: whatever data
// it accepts, the library finds valid. The data is the fuzzer's bytes put
// in one of several frames, most of them valid events with a hole where a
// member's value goes, so that each keyword sees values of its own.
func FuzzFastPath(f *testing.F) {
	page, err := os.ReadFile("testdata/schemas/page.viewed.json")
	if err != nil {
		f.Fatal(err)
	}
	var schemas []*compiled
	for _, doc := range []string{shopOrder, list, string(page), `{}`} {
		p, err := prepare("t", []byte(doc))
		if err != nil || p.fast == nil {
			f.Fatalf("%s: %v, fast schema %v", doc, err, p.fast)
		}
		schemas = append(schemas, &compiled{schema: p.schema, fast: p.fast})
	}
	const (
		order = `{"id": "5f0c6a8e-2b1d-4e7f-9c3a-8d4b2e6f1a07", "items": [{"sku": "S", "qty": 1, "note": null}], "total": 1, `
		view  = `{"page_id": "5f0c6a8e-2b1d-4e7f-9c3a-8d4b2e6f1a07", "url": "https://example.com/", "title": "x", ` +
			`"session_id": "b3e1f9d2-7a6c-4b58-8e0f-1c2d3a4b5c6d", "viewed_at": "2025-03-14T15:09:26Z", `
	)
	frames := []string{"%s", "[%s]"}
	for _, name := range []string{"email", "at", "site", "code", "name", "status", "kind", "total", "discount", "items", "meta", "flags", "level", "legacy", "any"} {
		frames = append(frames, order+`"`+name+`": %s}`)
	}
	frames = append(frames, order+`"%s": 1}`, strings.Replace(order, `"note": null`, `"qty": %s`, 1)+`"any": 0}`, strings.Replace(order, `null`, `%s`, 1)+`"any": 0}`)
	for _, name := range []string{"url", "title", "referrer", "user_email", "viewed_at", "device", "duration_ms", "screen"} {
		frames = append(frames, view+`"`+name+`": %s}`)
	}
	for _, seed := range []struct {
		frame uint8
		value string
	}{
		{0, validShopOrder}, {0, `null`}, {1, `"a", "bc", "\u00e9\u00e9\u00e9"`}, {1, `1e2, -0, 0.5e-3, true, {"a": [null]}`},
		{0, `{"page_id":"5f0c6a8e-2b1d-4e7f-9c3a-8d4b2e6f1a07","url":"https://shop.example.com/p?x=1","title":"Caf\u00e9","referrer":null,"session_id":"b3e1f9d2-7a6c-4b58-8e0f-1c2d3a4b5c6d","user_email":"ada@example.com","viewed_at":"2025-03-14T15:09:26.535Z","device":"desktop","duration_ms":5234,"screen":{"width":1920,"height":1080}}`},
		{0, `{"page_id":"5f0c6a8e","url":"::","title":"","session_id":"x","viewed_at":"yesterday","device":"tv","duration_ms":-1,"screen":{"width":0}}`},
		{2, `"ada@example.com"`}, {3, `"2025-03-14T15:09:26.535+01:00"`}, {4, `"https://example.com/a%20b?c#d"`}, {5, `"A\u0042-12"`},
		{6, `"\ud83d\ude00\ud83d\ude00"`}, {7, `"p\u0061id"`}, {8, `"order"`}, {9, `999999.9999999999999`}, {9, `1e5`},
		{10, `-4.9999999999999e-1`}, {10, `99.99`}, {11, `[{"sku": "", "qty": 100, "note": "x", "x": null}]`},
		{12, `{"a": 123456789012345678, "b": -9007199254740993, "a": 2}`}, {13, `[true, false]`}, {14, `-1e-310`}, {14, `1e-400`},
		{15, `false`}, {16, `{"x": [1, "y", {"z": null}]}`}, {17, `\u0065mail`}, {17, `x`}, {18, `2.0`}, {18, `100`}, {19, `"note"`},
		{20, `"https://example.com/~a"`}, {21, `"` + strings.Repeat("é", 200) + `"`}, {22, `"https://example.com/"`}, {23, `"a@b.co"`},
		{24, `"2025-02-29T00:00:00Z"`}, {25, `"mobile"`}, {26, `0`}, {27, `{"width": 1, "height": 1e0}`},
	} {
		f.Add(seed.frame, []byte(seed.value))
	}
	f.Fuzz(func(t *testing.T, frame uint8, value []byte) {
		data := bytes.Replace([]byte(frames[int(frame)%len(frames)]), []byte("%s"), value, 1)
		for _, c := range schemas {
			if !c.fast.accepts(data) {
				continue
			}
			v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("accepted %s, which is not JSON: %v", data, err)
			}
			if vs := bigNumbers(v); vs != nil {
				t.Fatalf("accepted %s, whose numbers are too large: %v", data, vs)
			}
			if err := c.schema.Validate(v); err != nil {
				t.Fatalf("accepted %s, which is invalid: %v", data, err)
			}
		}
	})
}

// FuzzFastSchema does the same with arbitrary schemas: those outside the
// subset get no fast schema, and the others accept only valid data.
func FuzzFastSchema(f *testing.F) {
	for _, seed := range [][2]string{
		{shopOrder, validShopOrder}, {list, `["a", null]`}, {list, `null`},
		{`{"type": "integer", "maximum": 1e2, "exclusiveMinimum": -1}`, `100`},
		{`{"required": ["a"], "additionalProperties": {"enum": ["x"]}, "maxProperties": 1}`, `{"a": "x"}`},
		{`{"items": false, "minItems": 0, "properties": {"a": true}}`, `[]`},
		{`{"format": "ipv4", "pattern": "^1", "type": ["string", "number"]}`, `"10.0.0.1"`},
		{`{"minLength": 2, "maxLength": 2, "const": "\u00e9\u00e9"}`, `"\u00e9\u00e9"`},
	} {
		f.Add(seed[0], []byte(seed[1]))
	}
	f.Fuzz(func(t *testing.T, doc string, data []byte) {
		p, err := prepare("t", []byte(doc))
		if err != nil || p.fast == nil || !p.fast.accepts(data) {
			return
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err == nil {
			err = p.schema.Validate(v)
		}
		if err != nil || bigNumbers(v) != nil {
			t.Fatalf("%s accepted %s, which is not valid: %v", doc, data, err)
		}
	})
}
