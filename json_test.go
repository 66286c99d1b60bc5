package sluice

import (
	"encoding/json"
	"strings"
	"testing"
)

var jsonCases = []string{
	`1`, `-0`, `-0.5e+7`, `0.1`, `1E5`, `01`, `1.`, `.5`, `-`, `+1`, `1e`, `1e+`,
	`"a\"b\\c\/\b\f\n\r\t\u00e9"`, `"\x"`, `"\u12"`, `"unterminated`, "\"tab\there\"", `"é"`, "\"\xff\"",
	`true`, `false`, `null`, `nul`, `tru`, `True`,
	`{}`, `[]`, ` { } `, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":{"b":[1,2,{"c":null}]}}`,
	`[1,2,3]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[[]`, `]`, `}`, `{"a":[}]`, `[{]}`,
	``, ` `, `1 2`, `{} {}`, "\n[1]\r\n", `"a" x`,
}

func TestValidJSON(t *testing.T) {
	for _, c := range jsonCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("%q: %v, encoding/json says %v", c, got, want)
		}
	}
	deep := strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)
	tooDeep := "[" + deep + "]"
	if !validJSON([]byte(deep)) || validJSON([]byte(tooDeep)) || json.Valid([]byte(tooDeep)) {
		t.Errorf("nesting limit differs from encoding/json's")
	}
}

// FuzzValidJSON checks validJSON against encoding/json.Valid.
func FuzzValidJSON(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("%q: %v, encoding/json says %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	data := []byte(`{"anonymous_id":"0f8fad5b-d9cb-469f","session_id":"s-00000042","url":"https://shop.example.com/products/42?utm_source=newsletter&utm_medium=email","referrer":"https://www.example.org/search?q=blue+running+shoes","title":"Blue running shoes, size 40 | Example Shop","viewport":{"width":1440,"height":900},"locale":"en-GB","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36","duration_ms":1234}`)
	b.Run("sluice", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			validJSON(data)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			json.Valid(data)
		}
	})
}
