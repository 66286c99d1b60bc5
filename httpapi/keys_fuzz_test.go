package httpapi

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// FuzzKeyChange feeds bodies of POST /v1/keys to its decoder and checks:
// what they accept is a key the keyring can use (a valid name and role,
// origins as browsers send them, valid types, no negative rate).
func FuzzKeyChange(f *testing.F) {
	for _, s := range []string{
		`{"name":"ci","role":"write","origins":["https://a.example","*"],"types":["page.viewed"],"rate":5,"burst":10}`,
		`{"name":"x","role":"admin","origins":["http://localhost:3000"]}`,
		`{"name":"a b","role":"boss","origins":["https://x.example/"],"rate":-1}`,
		`{"origins":["HTTPS://A.EXAMPLE"]}`, `{"name":"n","role":"read","origins":["https://[::1]:8080"]}`,
		`{}`, `[]`, `{"name":null}`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/v1/keys", strings.NewReader(body))
		c, p := decodeKeyChange(httptest.NewRecorder(), r)
		if p != nil || c.checkCreate() != nil {
			return
		}
		if sluice.CheckSubscriptionName(*c.Name) != nil || !c.Role.valid() {
			t.Fatalf("accepted name %q role %q", *c.Name, *c.Role)
		}
		var k sluice.KeyRecord
		c.apply(&k)
		for _, o := range k.Origins {
			if o == "*" {
				continue
			}
			u, err := url.Parse(o)
			if err != nil || u.Scheme+"://"+u.Host != o || u.Path != "" || u.RawQuery != "" || u.User != nil {
				t.Fatalf("accepted origin %q", o)
			}
		}
		for _, typ := range k.Types {
			if sluice.CheckType(typ) != nil {
				t.Fatalf("accepted type %q", typ)
			}
		}
		if k.Rate < 0 || k.Burst < 0 {
			t.Fatalf("accepted rate %v burst %d", k.Rate, k.Burst)
		}
	})
}
