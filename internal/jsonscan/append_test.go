package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
)

// encodedString is s as an encoding/json Encoder without HTML escaping
// writes it, without the newline.
func encodedString(t *testing.T, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

var stringCases = []string{
	"", "plain", `q"uote\back/slash`, "\x00\x01\b\f\n\r\t\x1f\x7f", "<a href='x'>&amp;</a>", "é日本😀",
	"\xff", "a\xc3(b", "\xed\xa0\x80", "line\u2028sep\u2029", "end\xe2\x80",
}

func TestAppendString(t *testing.T) {
	for _, s := range stringCases {
		if got, want := AppendString([]byte("x"), s), append([]byte("x"), encodedString(t, s)...); !bytes.Equal(got, want) {
			t.Errorf("%q: %s, encoding/json writes %s", s, got, want)
		}
	}
}

// FuzzAppendString: byte for byte what encoding/json writes.
func FuzzAppendString(f *testing.F) {
	for _, s := range stringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := AppendString(nil, s), encodedString(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: %s, encoding/json writes %s", s, got, want)
		}
	})
}
