package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var jsonCases = []string{
	`1`, `-0`, `-0.5e+7`, `0.1`, `1E5`, `01`, `1.`, `.5`, `-`, `+1`, `1e`, `1e+`, `-a`, `0x1`,
	`"a\"b\\c\/\b\f\n\r\t\u00e9"`, `"\x"`, `"\u12"`, `"\u12G4"`, `"unterminated`, "\"tab\there\"", `"é"`, "\"\xff\"",
	"\"\xc3(\"", `"\ud800"`, `"` + strings.Repeat("plain ascii ", 5) + `"`, `"` + strings.Repeat("é", 9) + "\x80\"",
	`true`, `false`, `null`, `nul`, `tru`, `True`, `nulll`,
	`{}`, `[]`, ` { } `, `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":{"b":[1,2,{"c":null}]}}`,
	`[1,2,3]`, `[1,]`, `[,1]`, `[1 2]`, `[[[]]]`, `[[]`, `]`, `}`, `{"a":[}]`, `[{]}`, `{"a":}`, `{"a"`, `{"a":1`,
	``, ` `, `1 2`, `{} {}`, "\n[1]\r\n", `"a" x`,
}

// encodingJSON is what Valid must answer: encoding/json's verdict, with
// the one rule it leaves out, that JSON text is UTF-8.
func encodingJSON(b []byte) bool { return json.Valid(b) && utf8.Valid(b) }

func TestValid(t *testing.T) {
	for _, c := range jsonCases {
		if got, want := Valid([]byte(c)), encodingJSON([]byte(c)); got != want {
			t.Errorf("%q: %v, encoding/json says %v", c, got, want)
		}
	}
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	tooDeep := "[" + deep + "]"
	if !Valid([]byte(deep)) || Valid([]byte(tooDeep)) || json.Valid([]byte(tooDeep)) {
		t.Errorf("nesting limit differs from encoding/json's")
	}
}

// TestUnquote: the text of a string token is encoding/json's, a slice of
// the token when nothing needs decoding.
func TestUnquote(t *testing.T) {
	for _, tok := range []string{`"plain"`, `"é"`, `"a\nb"`, `"\u00e9\ud83d\ude00"`, `"\ud800"`, "\"\xff\""} {
		end, plain, err := String([]byte(tok), 0)
		if end != len(tok) && err == nil {
			t.Fatalf("%q: read to %d", tok, end)
		}
		var want string
		_ = json.Unmarshal([]byte(tok), &want)
		if got := Unquote([]byte(tok), plain && err == nil); string(got) != want {
			t.Errorf("%q: %q, encoding/json reads %q", tok, got, want)
		}
	}
}

// FuzzValid checks Valid against encoding/json.Valid (and utf8.Valid), and
// that a failing SkipValue says where.
func FuzzValid(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), encodingJSON(b); got != want {
			t.Fatalf("%q: %v, encoding/json says %v", b, got, want)
		}
		if end, err := SkipValue(b, 0, 0); err != nil && (err.Offset < 0 || err.Offset > len(b) || err.Msg == "") {
			t.Fatalf("%q: error %+v", b, err)
		} else if err == nil && (end <= 0 || end > len(b)) {
			t.Fatalf("%q: value ends at %d", b, end)
		}
	})
}

// BenchmarkValidJSON is the commit path's check of one event's data (a
// page view of 406 bytes), against encoding/json.Valid.
func BenchmarkValidJSON(b *testing.B) {
	data := []byte(`{"anonymous_id":"0f8fad5b-d9cb-469f","session_id":"s-00000042","url":"https://shop.example.com/products/42?utm_source=newsletter&utm_medium=email","referrer":"https://www.example.org/search?q=blue+running+shoes","title":"Blue running shoes, size 40 | Example Shop","viewport":{"width":1440,"height":900},"locale":"en-GB","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36","duration_ms":1234}`)
	b.Run("sluice", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			Valid(data)
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			json.Valid(data)
		}
	})
}
