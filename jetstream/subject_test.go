package jetstream

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestEncodeToken(t *testing.T) {
	for name, want := range map[string]string{
		"order-42":   "order-42",
		"a.b c":      "a=2Eb=20c",
		"é>*":        "=C3=A9=3E=2A",
		"=":          "=3D",
		"$keys_list": "=24keys_list",
	} {
		if got := encodeToken(name); got != want {
			t.Errorf("encodeToken(%q) = %q, want %q", name, got, want)
		}
		if back, err := decodeToken(want); err != nil || back != name {
			t.Errorf("decodeToken(%q) = %q, %v, want %q", want, back, err, name)
		}
	}
	for _, bad := range []string{"=", "=4", "=41", "=zz", "a.b", "a b", indexedKey} {
		if _, err := decodeToken(bad); err == nil {
			t.Errorf("decodeToken(%q) accepted a token encodeToken cannot make", bad)
		}
	}
}

// FuzzDecodeToken: a token decodes only if it is the encoding of what it
// decodes to, so every name has one token.
func FuzzDecodeToken(f *testing.F) {
	f.Add("order-42")
	f.Add("a=2Eb")
	f.Add("=C3=A9")
	f.Fuzz(func(t *testing.T, tok string) {
		name, err := decodeToken(tok)
		if err == nil && encodeToken(name) != tok {
			t.Fatalf("decodeToken(%q) = %q, which encodes to %q", tok, name, encodeToken(name))
		}
		if back, err := decodeToken(encodeToken(tok)); err != nil || back != tok {
			t.Fatalf("round trip of %q: %q %v", tok, back, err)
		}
	})
}

// FuzzDecodeBody: any bytes decode or fail without a panic, and what
// encodeBody makes decodes to the event, data and metadata byte for byte.
func FuzzDecodeBody(f *testing.F) {
	e := sluice.Event{ID: "a", Type: "t", Stream: "s", Data: json.RawMessage(` {"x": 1} `), Metadata: json.RawMessage(`{ }`)}
	b, _ := encodeBody(&e)
	f.Add(b)
	f.Add([]byte{0x05, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeBody(b)
		e := sluice.Event{ID: "id", Type: "t", Stream: "s", Data: b}
		enc, err := encodeBody(&e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeBody(enc)
		if err != nil || !bytes.Equal(got.Data, b) || got.ID != "id" {
			t.Fatalf("round trip of data %q: %+v %v", b, got, err)
		}
	})
}
