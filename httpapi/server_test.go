package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/testserver"
	"github.com/sluicehq/sluice/schema"
)

const (
	adminKey   = "sk_admin_0123456789abcdef"
	writeKey   = "sk_write_0123456789abcdef"
	readKey    = "sk_read_0123456789abcdefg"
	browserKey = "sk_browser_0123456789abcd"
)

// harness is a real server on a random port over a real store.
type harness struct {
	t     *testing.T
	url   string
	srv   *httpapi.Server
	store sluice.Store
}

func testConfig() httpapi.Config {
	return httpapi.Config{Keys: []httpapi.Key{
		{Name: "admin", Secret: adminKey, Role: httpapi.RoleAdmin},
		{Name: "web", Secret: writeKey, Role: httpapi.RoleWrite},
		{Name: "reader", Secret: readKey, Role: httpapi.RoleRead},
		{Name: "browser", Secret: browserKey, Role: httpapi.RoleWrite, Origins: []string{"https://shop.example.com"}, Types: []string{"page.viewed"}},
	}}
}

func newHarness(t *testing.T, store sluice.Store, cfg httpapi.Config) *harness {
	t.Helper()
	s := testserver.New(t, store, cfg)
	return &harness{t: t, url: s.URL, srv: s.API, store: store}
}

// newRegistry is the schema registry of store, loaded (newHarness also
// keeps it refreshed, as serve does).
func newRegistry(tb testing.TB, store sluice.Schemas) *schema.Registry {
	tb.Helper()
	r := schema.New(store, schema.Options{})
	if err := r.Load(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return r
}

// request is one HTTP call of a test.
type request struct {
	method, path, key, contentType, body string
	header                               map[string]string
}

// do sends req and returns the status, the headers and the body.
func (h *harness) do(req request) (int, http.Header, []byte) {
	h.t.Helper()
	r, err := http.NewRequest(req.method, h.url+req.path, strings.NewReader(req.body))
	if err != nil {
		h.t.Fatal(err)
	}
	if req.key != "" {
		r.Header.Set("Authorization", "Bearer "+req.key)
	}
	if req.contentType != "" {
		r.Header.Set("Content-Type", req.contentType)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	checkContract(h.t, r, resp, body)
	return resp.StatusCode, resp.Header, body
}

// want sends req, checks the status and decodes the JSON answer into v (if
// not nil). A problem answer must be application/problem+json with a code.
func (h *harness) want(req request, status int, v any) http.Header {
	h.t.Helper()
	got, header, body := h.do(req)
	if got != status {
		h.t.Fatalf("%s %s: status %d, want %d: %s", req.method, req.path, got, status, body)
	}
	if status >= 400 {
		if ct := header.Get("Content-Type"); ct != "application/problem+json" {
			h.t.Fatalf("%s %s: error with Content-Type %q", req.method, req.path, ct)
		}
		var p struct{ Type, Title, Code string }
		if err := json.Unmarshal(body, &p); err != nil || p.Code == "" || p.Type == "" || p.Title == "" {
			h.t.Fatalf("%s %s: problem without type, title or code: %s", req.method, req.path, body)
		}
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			h.t.Fatalf("%s %s: %v in %s", req.method, req.path, err, body)
		}
	}
	return header
}

// problem is the shape of an error answer.
type problem struct {
	Status         int                    `json:"status"`
	Code           string                 `json:"code"`
	Errors         []httpapi.EventProblem `json:"errors"`
	CurrentVersion *uint64                `json:"current_version"`
}

type ingestAnswer struct {
	Accepted   int                    `json:"accepted"`
	Duplicates int                    `json:"duplicates"`
	Rejected   []httpapi.EventProblem `json:"rejected"`
	Position   sluice.Position        `json:"position"`
}

type logPage struct {
	Events    []sluice.Event  `json:"events"`
	NextAfter sluice.Position `json:"next_after"`
}

func post(path, key, body string) request {
	return request{method: "POST", path: path, key: key, contentType: "application/json", body: body}
}

func get(path, key string) request { return request{method: "GET", path: path, key: key} }

func basic(user string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":"))
}
