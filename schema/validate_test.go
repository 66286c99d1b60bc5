package schema_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/schema"
)

// loadTestdata returns a Registry of the schemas in testdata/schemas.
func loadTestdata(tb testing.TB) *schema.Registry {
	tb.Helper()
	r := schema.New(newStore(tb), schema.Options{})
	if _, err := r.LoadDir(context.Background(), "testdata/schemas"); err != nil {
		tb.Fatal(err)
	}
	return r
}

// validOrder is a valid order.placed event's data.
const validOrder = `{
	"order_id": "0b7e2c9a-3f1d-4c8e-9a6b-2d5f8e1c7a40",
	"email": "ada@example.com",
	"placed_at": "2025-03-14T15:09:26Z",
	"status": "paid",
	"price": 42.5,
	"coupon": "SAVE10",
	"items": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-22", "quantity": 1}],
	"payment": {"method": "card", "last4": "4242"}
}`

// order is validOrder with the members of change set, or removed where
// change gives "-": change is an object's inside, `"price": -1, "email": "-"`.
func order(tb testing.TB, change string) string {
	tb.Helper()
	var m, c map[string]json.RawMessage
	if err := json.Unmarshal([]byte(validOrder), &m); err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal([]byte("{"+change+"}"), &c); err != nil {
		tb.Fatalf("change %s: %v", change, err)
	}
	for name, v := range c {
		if string(v) == `"-"` {
			delete(m, name)
		} else {
			m[name] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestRegistry_Validate(t *testing.T) {
	t.Parallel()
	r := loadTestdata(t)

	// Each case lists the violations it must give as "path keyword", in
	// order.
	for _, tc := range []struct {
		name string
		data string
		want []string
	}{
		{"Valid", order(t, ""), nil},
		{"ValidOtherAlternative", order(t, `"payment": {"method": "transfer", "iban": "DE89370400440532013000"}`), nil},
		{"ValidOptionalMissing", order(t, `"status": "-", "coupon": "-"`), nil},
		{"Required", order(t, `"price": "-", "email": "-"`), []string{"/data/email required", "/data/price required"}},
		{"Type", order(t, `"price": "12"`), []string{"/data/price type"}},
		{"Minimum", order(t, `"price": -0.01`), []string{"/data/price minimum"}},
		{"ExclusiveMaximum", order(t, `"price": 100000`), []string{"/data/price exclusiveMaximum"}},
		{"IntegerType", order(t, `"items": [{"sku": "SKU-1", "quantity": 1.5}]`), []string{"/data/items/0/quantity type"}},
		{"MinItems", order(t, `"items": []`), []string{"/data/items minItems"}},
		{"NestedItems", order(t, `"items": [{"sku": "sku-1", "quantity": 1}, {"sku": "SKU-2", "quantity": 101}, {"quantity": 0}]`),
			[]string{"/data/items/0/sku pattern", "/data/items/1/quantity maximum", "/data/items/2/quantity minimum", "/data/items/2/sku required"}},
		{"FormatEmail", order(t, `"email": "ada.example.com"`), []string{"/data/email format"}},
		{"FormatDateTime", order(t, `"placed_at": "2025-03-14 15:09"`), []string{"/data/placed_at format"}},
		{"FormatUUID", order(t, `"order_id": "42"`), []string{"/data/order_id format"}},
		{"Enum", order(t, `"status": "lost"`), []string{"/data/status enum"}},
		{"AdditionalProperties", order(t, `"gift": true, "note": "x"`), []string{"/data/gift additionalProperties", "/data/note additionalProperties"}},
		{"OneOfNoneMatched", order(t, `"payment": {"method": "cash"}`), []string{"/data/payment oneOf"}},
		{"PatternAndMaxLength", order(t, `"coupon": "free-shipping"`), []string{"/data/coupon maxLength", "/data/coupon pattern"}},
		{"EscapedPointer", order(t, `"tags/labels~": ["a", 2]`), []string{"/data/tags~1labels~0/1 type"}},
		{"EveryErrorReported", order(t, `"order_id": 7, "email": "-", "price": -3, "status": "lost", "items": [{"sku": "SKU-1", "quantity": 1}, {"sku": "SKU-3"}], "x": null`),
			[]string{"/data/email required", "/data/items/1/quantity required", "/data/order_id type", "/data/price minimum", "/data/status enum", "/data/x additionalProperties"}},
		{"NotAnObject", `[{"price": 1}]`, []string{"/data type"}},
		{"NotJSON", `{"price": 1,`, []string{"/data "}},
		// Beyond what the validator computes with (it would panic or spend
		// seconds): refused before it runs.
		{"NumbersTooLarge", order(t, `"price": 1e9999999, "items": [{"sku": "SKU-1", "quantity": 1e-1001}], "x": 1`+strings.Repeat("0", 100)),
			[]string{"/data/items/0/quantity ", "/data/price ", "/data/x "}},
		{"TrailingData", `{} {}`, []string{"/data "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			known, vs := r.Validate("order.placed", []byte(tc.data))
			if !known {
				t.Fatal("order.placed is not known")
			}
			var got []string
			for _, v := range vs {
				got = append(got, v.Path+" "+v.Keyword)
				if v.Message == "" {
					t.Errorf("%s: no message", v.Path)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("data %s\ngot violations\n  %s\nwant\n  %s", tc.data, strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}

	t.Run("Messages", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			data string
			want sluice.Violation
		}{
			{order(t, `"price": "-"`), sluice.Violation{Path: "/data/price", Keyword: "required", Message: `missing required property "price"`}},
			{order(t, `"price": -1`), sluice.Violation{Path: "/data/price", Keyword: "minimum", Message: "minimum: got -1, want 0"}},
			{order(t, `"price": true`), sluice.Violation{Path: "/data/price", Keyword: "type", Message: "got boolean, want number"}},
			{order(t, `"status": "lost"`), sluice.Violation{Path: "/data/status", Keyword: "enum", Message: "value must be one of 'pending', 'paid', 'shipped'"}},
			{order(t, `"email": "ada"`), sluice.Violation{Path: "/data/email", Keyword: "format", Message: "'ada' is not valid email: missing @"}},
			{order(t, `"gift": true`), sluice.Violation{Path: "/data/gift", Keyword: "additionalProperties", Message: `property "gift" is not allowed`}},
			{order(t, `"coupon": "save10"`), sluice.Violation{Path: "/data/coupon", Keyword: "pattern", Message: "'save10' does not match pattern '^[A-Z]{4}[0-9]{2}$'"}},
			{order(t, `"payment": {"method": "cash"}`), sluice.Violation{Path: "/data/payment", Keyword: "oneOf",
				Message: `matches none of the alternatives of oneOf: [0] /data/payment/last4: missing required property "last4", /data/payment/method: value must be 'card'; [1] /data/payment/iban: missing required property "iban", /data/payment/method: value must be 'transfer'`}},
		} {
			_, vs := r.Validate("order.placed", []byte(tc.data))
			if len(vs) != 1 || vs[0] != tc.want {
				t.Errorf("data %s\ngot  %+v\nwant [%+v]", tc.data, vs, tc.want)
			}
		}
	})

	t.Run("OneOfSeveralMatched", func(t *testing.T) {
		t.Parallel()
		r := schema.New(newStore(t), schema.Options{})
		put(t, r, "t", `{"oneOf": [{"type": "integer"}, {"minimum": 0}]}`)
		_, vs := r.Validate("t", []byte(`1`))
		want := sluice.Violation{Path: "/data", Keyword: "oneOf", Message: "matches alternatives 0 and 1 of oneOf; it must match exactly one"}
		if len(vs) != 1 || vs[0] != want {
			t.Errorf("got %+v, want [%+v]", vs, want)
		}
	})

	t.Run("FalseSchema", func(t *testing.T) {
		t.Parallel()
		r := schema.New(newStore(t), schema.Options{})
		put(t, r, "t", `{"properties": {"a": {}, "legacy": false}, "unevaluatedProperties": false}`)
		_, vs := r.Validate("t", []byte(`{"a": 1, "b": 2, "legacy": 3}`))
		want := []sluice.Violation{
			{Path: "/data/b", Keyword: "unevaluatedProperties", Message: "no value is allowed here"},
			{Path: "/data/legacy", Keyword: "properties", Message: "no value is allowed here"},
		}
		if !slices.Equal(vs, want) {
			t.Errorf("got %+v, want %+v", vs, want)
		}
	})

	t.Run("NotJSONMessage", func(t *testing.T) {
		t.Parallel()
		_, vs := r.Validate("order.placed", []byte(`{"price": 1,`))
		if len(vs) != 1 || !strings.Contains(vs[0].Message, "not valid JSON") {
			t.Errorf("got %+v, want one violation saying the data is not valid JSON", vs)
		}
	})

	t.Run("UnknownType", func(t *testing.T) {
		t.Parallel()
		known, vs := r.Validate("order.cancelled", []byte(`{}`))
		if known || vs != nil {
			t.Errorf("Validate = %t, %v; want unknown and no violations", known, vs)
		}
	})
}
