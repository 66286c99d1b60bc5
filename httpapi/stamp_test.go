package httpapi

import "testing"

// TestAppendWithMember: the member is added last to any object, an empty
// metadata becomes an object of it, and what is not an object is kept for
// Validate to report.
func TestAppendWithMember(t *testing.T) {
	const member = `"received_at":"t"`
	for _, c := range []struct{ obj, want string }{
		{"", `{"received_at":"t"}`},
		{" \n", `{"received_at":"t"}`},
		{"{}", `{"received_at":"t"}`},
		{"{ \t}\n", `{"received_at":"t"}`},
		{`{"a":1}`, `{"a":1,"received_at":"t"}`},
		{`{"received_at":"x"} `, `{"received_at":"x","received_at":"t"}`},
		{`[1]`, `[1]`},
		{`"s"`, `"s"`},
	} {
		b := appendWithMember([]byte("prefix"), []byte(c.obj), []byte(member))
		if got := string(b[len("prefix"):]); got != c.want {
			t.Errorf("%q: %s, want %s", c.obj, got, c.want)
		}
		if len(b)-len("prefix") > len(c.obj)+len(member)+3 {
			t.Errorf("%q: %d bytes, over the bound", c.obj, len(b)-len("prefix"))
		}
	}
}
