package schema_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/schema"
)

// FuzzPut registers arbitrary documents: Put never panics, refuses with an
// *InvalidSchemaError or stores a version whose canonical form is stable,
// and whatever got registered validates data without panicking.
func FuzzPut(f *testing.F) {
	for _, path := range []string{"testdata/schemas/order.placed.json", "testdata/schemas/page.viewed.json"} {
		doc, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(doc)
	}
	for _, doc := range []string{
		`{}`, `true`, `false`, `{"type": 5}`, `{"minimum": "x"}`, `not json`, `{"type": "object",`,
		`{"$ref": "http://example.com/x"}`, `{"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}`,
		`{"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"}`,
		`{"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}], "additionalItems": false}`,
		`{"pattern": "^(a+)+$", "format": "date-time", "multipleOf": 1e-300}`,
		`{"if": {"minimum": 5}, "then": {"multipleOf": 2}, "else": {"not": {"type": "integer"}}}`,
		`{"properties": {"a/b~c": {"enum": [1, "1", null, {"x": [1]}]}}, "unevaluatedProperties": false}`,
		`{"dependentSchemas": {"a": {"required": ["b"]}}, "contains": {"const": 1}, "minContains": 2}`,
	} {
		f.Add([]byte(doc))
	}
	ctx := context.Background()
	r := schema.New(newStore(f), schema.Options{})
	data := [][]byte{
		[]byte(validOrder), []byte(`{}`), []byte(`[1, "a", null, [], {"a": {"b": 1.5e300}}]`),
		[]byte(`"2025-03-14T15:09:26Z"`), []byte(`-0`), []byte(`{"a": 1, "b": [1, 1, 1]}`), []byte(`{`),
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, _, err := r.Put(ctx, "fuzz", doc)
		if err != nil {
			var ise *schema.InvalidSchemaError
			if !errors.As(err, &ise) || !errors.Is(err, schema.ErrInvalidSchema) {
				t.Fatalf("Put(%q) = %v, want an *InvalidSchemaError", doc, err)
			}
			return
		}
		again, created, err := r.Put(ctx, "fuzz", v.Schema)
		if err != nil || created || again.Version != v.Version {
			t.Fatalf("Put of the canonical %s = %d, %t, %v; want version %d unchanged", v.Schema, again.Version, created, err, v.Version)
		}
		for _, d := range data {
			if known, vs := r.Validate("fuzz", d); !known {
				t.Fatalf("Validate after Put: unknown type (%v)", vs)
			}
		}
	})
}

// FuzzValidate validates arbitrary data: never a panic, and every
// violation points into the event's data and says something.
func FuzzValidate(f *testing.F) {
	for _, data := range []string{
		validOrder, `{}`, `[]`, `null`, `"x"`, `1e999`, `{"price": -1}`, `{"price":`, `{} {}`,
		`{"items": [{"sku": "sku"}, {"quantity": 1e2}, 3], "payment": {"method": "cash"}, "tags/labels~": [1]}`,
		`{"order_id": "0b7e2c9a-3f1d-4c8e-9a6b-2d5f8e1c7a4", "email": "a@b", "placed_at": "2025-02-30T25:00:00Z"}`,
		`{"page_id": "x", "url": "::", "screen": {"width": 0}, "device": "tv", "referrer": null}`,
		`{"price": 1e9999999, "items": [{"quantity": -1E+1000}], "screen": {"width": 1.5e-1000}}`,
	} {
		f.Add("order.placed", []byte(data))
		f.Add("page.viewed", []byte(data))
	}
	r := loadTestdata(f)
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		if typ != "page.viewed" {
			typ = "order.placed"
		}
		known, vs := r.Validate(typ, data)
		if !known {
			t.Fatalf("%s is not known", typ)
		}
		for _, v := range vs {
			if v.Path != "/data" && !strings.HasPrefix(v.Path, "/data/") || v.Message == "" {
				t.Fatalf("Validate(%q) gave %+v", data, v)
			}
		}
	})
}
