package nats

import (
	"net/url"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

func TestSubject_Render(t *testing.T) {
	subj, err := parseSubject("sluice.{category}.{stream}.{type}")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ stream, typ, want string }{
		{"order-42", "order.placed", "sluice.order.order-42.order.placed"},
		{"a.b-1", "t", "sluice.a.b.a.b-1.t"}, // dots separate tokens
		{".a..b.", "t", "sluice.%2Ea.%2Eb%2E.%2Ea.%2Eb%2E.t"},
		{"-x", "t", "sluice.%00.-x.t"}, // an empty category
		{"100% *wild* > é\t", "t", "sluice.100%25%20%2Awild%2A%20%3E%20%C3%A9%09.100%25%20%2Awild%2A%20%3E%20%C3%A9%09.t"},
		{"$keys", "key.created", "sluice.$keys.$keys.key.created"},
	} {
		if got := subj.render(&sluice.Event{Stream: tt.stream, Type: tt.typ}); got != tt.want {
			t.Errorf("stream %q type %q: %q, want %q", tt.stream, tt.typ, got, tt.want)
		}
	}
}

// FuzzSubject: a template that parses renders a valid subject for any
// event, and percent-decoding its value's part gives the value back.
func FuzzSubject(f *testing.F) {
	f.Add("sluice.{stream}", "order-42")
	f.Add("a.{type}.b", ".x..y.")
	f.Add("sluice.{category}", "-")
	f.Add("x.{stream}{stream}", "100% é*>")
	f.Fuzz(func(t *testing.T, template, value string) {
		subj, err := parseSubject(template)
		if err != nil {
			return
		}
		e := &sluice.Event{Stream: value, Type: value}
		if got := subj.render(e); checkSubject(got) != nil {
			t.Fatalf("template %q, value %q: %v", template, value, checkSubject(got))
		}
		if strings.IndexByte(value, 0) >= 0 {
			return // no stream or type holds a NUL: %00 is the empty value
		}
		tok := string(appendToken(nil, value))
		back, err := url.PathUnescape(tok)
		if tok == "%00" {
			back, err = "", nil
		}
		if err != nil || back != value {
			t.Fatalf("%q renders %q, which decodes to %q (%v)", value, tok, back, err)
		}
	})
}
