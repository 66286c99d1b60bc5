package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
)

// keyAnswer is a key as /v1/keys shows it.
type keyAnswer struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Role      httpapi.Role `json:"role"`
	Origins   []string     `json:"origins"`
	Types     []string     `json:"types"`
	Rate      float64      `json:"rate"`
	Bootstrap bool         `json:"bootstrap"`
	Source    string       `json:"source"`
	RevokedAt *time.Time   `json:"revoked_at"`
	Secret    string       `json:"secret"`
}

var newSecret = regexp.MustCompile(`^sk_write_[a-z2-7]{52}$`)

// patch is a PATCH with a JSON body.
func patch(path, key, body string) request {
	return request{method: "PATCH", path: path, key: key, contentType: "application/json", body: body}
}

// preflight is a CORS preflight from origin.
func preflight(origin string) request {
	return request{method: "OPTIONS", path: "/v1/events", header: map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"}}
}

func TestKeys_API(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		store := open(t)
		h := newHarness(t, store, testConfig())
		const event = `{"type":"page.viewed","data":{}}`

		// Create: the secret is shown once, and works at once.
		var created keyAnswer
		header := h.want(post("/v1/keys", adminKey, `{"name":"ci","role":"write","types":["page.viewed"]}`), 201, &created)
		if !newSecret.MatchString(created.Secret) || created.ID == "" || created.Name != "ci" || created.Bootstrap || created.Source != "store" {
			t.Fatalf("created %+v, want a write key with a 256-bit secret", created)
		}
		if loc := header.Get("Location"); loc != "/v1/keys/ci" {
			t.Errorf("Location %q", loc)
		}
		secret := created.Secret
		h.want(post("/v1/events", secret, event), 200, nil)
		h.want(post("/v1/events", secret, `{"type":"other","data":{}}`), 403, nil)
		rs, err := store.ListKeys(context.Background())
		if err != nil || len(rs) != 1 || rs[0].Hash != sha256.Sum256([]byte(secret)) {
			t.Fatalf("the store keeps %+v (%v), want the new key's hash", rs, err)
		}

		// List: the configuration's keys and the store's, never a secret.
		_, _, body := h.do(get("/v1/keys", adminKey))
		if strings.Contains(string(body), secret) || strings.Contains(string(body), "secret") || strings.Contains(string(body), adminKey) {
			t.Fatalf("the list shows secrets: %s", body)
		}
		var list struct{ Keys []keyAnswer }
		h.want(get("/v1/keys", adminKey), 200, &list)
		var names []string
		for _, k := range list.Keys {
			names = append(names, fmt.Sprintf("%s/%s/%t", k.Name, k.Source, k.Bootstrap))
		}
		if got := strings.Join(names, " "); got != "admin/config/true web/config/true reader/config/true browser/config/true ci/store/false" {
			t.Fatalf("listed %s", got)
		}

		t.Run("Refused", func(t *testing.T) {
			h.want(post("/v1/keys", adminKey, `{"name":"ci","role":"write"}`), 409, nil)
			h.want(post("/v1/keys", adminKey, `{"name":"admin","role":"write"}`), 409, nil)
			var p problem
			h.want(post("/v1/keys", adminKey, `{"name":"a b","role":"boss","origins":["https://x.example/"],"rate":-1}`), 400, &p)
			if p.Code != "invalid_key" {
				t.Errorf("code %q", p.Code)
			}
			_, _, body := h.do(post("/v1/keys", adminKey, `{"role":"boss","origins":["https://x.example/"],"rate":-1}`))
			for _, want := range []string{"name: required", "role: ", "origins: ", "rate and burst"} {
				if !strings.Contains(string(body), want) {
					t.Errorf("the answer to a bad key does not say %q: %s", want, body)
				}
			}
			h.want(post("/v1/keys", adminKey, `{"name":"x","role":"write","secret":"mine"}`), 400, nil)
			h.want(post("/v1/keys", writeKey, `{"name":"x","role":"write"}`), 403, nil)
			h.want(get("/v1/keys", readKey), 403, nil)
			if _, _, body := h.do(get("/v1/keys?key="+adminKey, "")); !strings.Contains(string(body), "only ingest takes ?key=") {
				t.Errorf("?key= on an admin route: %s, want it to say that only ingest takes ?key=", body)
			}
			h.want(patch("/v1/keys/ci", adminKey, `{"role":"admin"}`), 400, nil)
			h.want(patch("/v1/keys/nobody", adminKey, `{"rate":1}`), 404, nil)
		})

		t.Run("BootstrapKeys", func(t *testing.T) {
			var p problem
			h.want(request{method: "DELETE", path: "/v1/keys/web", key: adminKey}, 409, &p)
			if p.Code != "bootstrap_key" {
				t.Errorf("code %q, want bootstrap_key", p.Code)
			}
			h.want(patch("/v1/keys/admin", adminKey, `{"origins":["*"]}`), 409, nil)
			h.want(post("/v1/events", writeKey, event), 200, nil)
		})

		t.Run("PatchOrigins", func(t *testing.T) {
			const origin = "https://app.example"
			h.want(preflight(origin), 403, nil)
			var k keyAnswer
			h.want(patch("/v1/keys/ci", adminKey, `{"origins":["`+origin+`"],"rate":100}`), 200, &k)
			if len(k.Origins) != 1 || k.Origins[0] != origin || k.Rate != 100 || len(k.Types) != 1 {
				t.Fatalf("patched %+v, want the origin and rate changed, the types kept", k)
			}
			header := h.want(preflight(origin), 204, nil)
			if got := header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("preflight allows %q", got)
			}
			header = h.want(request{method: "POST", path: "/v1/events?key=" + secret, contentType: "text/plain", body: event, header: map[string]string{"Origin": origin}}, 200, nil)
			if got := header.Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("a beacon from %s: Access-Control-Allow-Origin %q", origin, got)
			}
			h.want(request{method: "POST", path: "/v1/events", key: secret, contentType: "application/json", body: event, header: map[string]string{"Origin": "https://elsewhere.example"}}, 403, nil)
		})

		t.Run("Revoke", func(t *testing.T) {
			var k keyAnswer
			h.want(request{method: "DELETE", path: "/v1/keys/ci", key: adminKey}, 200, &k)
			if k.RevokedAt == nil {
				t.Fatalf("revoked %+v, without revoked_at", k)
			}
			h.want(post("/v1/events", secret, event), 401, nil)
			h.want(request{method: "DELETE", path: "/v1/keys/ci", key: adminKey}, 404, nil)
			h.want(get("/v1/keys", adminKey), 200, &list)
			if last := list.Keys[len(list.Keys)-1]; last.Name != "ci" || last.RevokedAt == nil {
				t.Fatalf("the revoked key is listed as %+v", last)
			}
		})

		t.Run("Audit", func(t *testing.T) {
			var page struct{ Events []sluice.Event }
			h.want(get("/v1/streams/%24keys/events", adminKey), 200, &page)
			var got []string
			for _, e := range page.Events {
				var d struct{ ID, Name, By string }
				if err := json.Unmarshal(e.Data, &d); err != nil {
					t.Fatal(err)
				}
				if d.ID != created.ID || d.Name != "ci" || d.By != "admin" || e.Source != "admin" {
					t.Errorf("audit event %s: %s from %s", e.Type, e.Data, e.Source)
				}
				if strings.Contains(string(e.Data), secret) || strings.Contains(string(e.Data), "hash") {
					t.Errorf("audit event %s holds the secret or its hash: %s", e.Type, e.Data)
				}
				got = append(got, e.Type)
			}
			if strings.Join(got, " ") != "key.created key.changed key.revoked" {
				t.Fatalf("the $keys stream holds %v", got)
			}
			// Clients cannot write there.
			h.want(post("/v1/streams/%24keys/events", adminKey, event), 400, nil)
			var a ingestAnswer
			h.want(post("/v1/events", adminKey, `{"type":"key.created","stream":"$keys","data":{}}`), 400, &a)
			h.want(get("/v1/streams/%24keys/events", adminKey), 200, &page)
			if len(page.Events) != 3 {
				t.Fatalf("a client appended to $keys: %d events", len(page.Events))
			}
		})
	})
}

// TestKeys_Generated: keys that serve generated on the first start (kept
// in the store as bootstrap keys) are used while no key is configured; the
// write key may be used from any origin, or from write_key_origins.
func TestKeys_Generated(t *testing.T) {
	t.Parallel()
	store := backends.SQLite(t)
	const admin, write = "sk_admin_generated_0123456789", "sk_write_generated_0123456789"
	err := store.AddKeys(context.Background(), []sluice.KeyRecord{
		{ID: "a", Name: "admin", Role: "admin", Hash: sha256.Sum256([]byte(admin)), Bootstrap: true},
		{ID: "w", Name: "write", Role: "write", Hash: sha256.Sum256([]byte(write)), Bootstrap: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, store, httpapi.Config{})
	h.want(get("/v1/events", admin), 200, nil)
	h.want(preflight("https://any.example"), 204, nil)
	h.want(request{method: "DELETE", path: "/v1/keys/write", key: admin}, 409, nil)
	var list struct{ Keys []keyAnswer }
	h.want(get("/v1/keys", admin), 200, &list)
	if len(list.Keys) != 2 || !list.Keys[1].Bootstrap || list.Keys[1].Source != "store" || strings.Join(list.Keys[1].Origins, ",") != "*" {
		t.Fatalf("listed %+v, want the generated write key usable from any origin", list.Keys)
	}

	restricted := newHarness(t, store, httpapi.Config{WriteKeyOrigins: []string{"https://shop.example"}})
	restricted.want(preflight("https://any.example"), 403, nil)
	restricted.want(preflight("https://shop.example"), 204, nil)

	// Once keys are configured, the generated ones are not used.
	configured := newHarness(t, store, testConfig())
	configured.want(get("/v1/events", admin), 401, nil)
}

// TestKeys_RevokedOnEveryNode: two servers on one PostgreSQL schema; a key
// revoked through one is refused by the other within a second.
func TestKeys_RevokedOnEveryNode(t *testing.T) {
	t.Parallel()
	url, schema := testutil.PostgresSchema(t)
	node1 := newHarness(t, backends.Postgres(t, url, schema), testConfig())
	node2 := newHarness(t, backends.Postgres(t, url, schema), testConfig())
	var k keyAnswer
	node1.want(post("/v1/keys", adminKey, `{"name":"shared","role":"read"}`), 201, &k)
	testutil.Eventually(t, time.Second, func() bool {
		status, _, _ := node2.do(get("/v1/events", k.Secret))
		return status == 200
	}, "a key created on node 1 is not accepted by node 2 within a second")
	node1.want(request{method: "DELETE", path: "/v1/keys/shared", key: adminKey}, 200, nil)
	revoked := time.Now()
	testutil.Eventually(t, time.Second, func() bool {
		status, _, _ := node2.do(get("/v1/events", k.Secret))
		return status == 401
	}, "a key revoked on node 1 is still accepted by node 2 after a second")
	t.Logf("refused by node 2 %v after the revocation", time.Since(revoked))
}
