package js_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testserver"
	"github.com/sluicehq/sluice/internal/testutil/npmpeers"
	"github.com/sluicehq/sluice/sdk/js"
)

const (
	adminKey = "sk_admin_0123456789abcdef"
	siteKey  = "sk_site_0123456789abcdef"
)

// TestSource_Size: sluice.js is under 5 KB gzipped (at gzip's default
// level).
func TestSource_Size(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(js.Source); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("sluice.js: %d bytes, %d gzipped", len(js.Source), b.Len())
	if b.Len() >= 5*1024 {
		t.Errorf("sluice.js is %d bytes gzipped, want under 5120", b.Len())
	}
}

// proxy stands in front of sluice for the test page. Its first POST
// /v1/events is stored by sluice but answered 503 (the answer lost), the
// second answered 429, both with Retry-After: 1; while down, every request
// is answered 503. Its answers carry CORS headers, as sluice's own do.
type proxy struct {
	origin   string
	upstream *httputil.ReverseProxy
	mu       sync.Mutex
	posts    int
	down     bool
	// at is when the first three POSTs came.
	at []time.Time
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	fault := p.down
	if r.Method == http.MethodPost && r.URL.Path == "/v1/events" && !p.down {
		p.posts++
		fault = p.posts <= 2
		if p.posts <= 3 {
			p.at = append(p.at, time.Now())
		}
		if p.posts == 1 {
			p.upstream.ServeHTTP(httptest.NewRecorder(), r) // stored; the answer is lost
		}
	}
	p.mu.Unlock()
	if !fault {
		p.upstream.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", p.origin)
	w.Header().Set("Access-Control-Expose-Headers", "Retry-After")
	w.Header().Set("Retry-After", "1")
	p.mu.Lock()
	code := http.StatusServiceUnavailable
	if p.posts == 2 && !p.down {
		code = http.StatusTooManyRequests
	}
	p.mu.Unlock()
	http.Error(w, http.StatusText(code), code)
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// TestSDK_Chromium loads sluice.js from sluice into pages of another
// origin in Chromium (testdata/browser.cjs drives them): events sent
// through 503s with Retry-After, on leaving a page (pagehide), and across
// a reload while sluice is unreachable all land, once each.
func TestSDK_Chromium(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		npmpeers.Skip(t, fmt.Errorf("%s (apt-get install chromium): %w", chromium, npmpeers.ErrNotInstalled))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + l.Addr().String()
	s := testserver.New(t, backends.SQLite(t), httpapi.Config{Keys: []httpapi.Key{
		{Name: "admin", Secret: adminKey, Role: httpapi.RoleAdmin},
		{Name: "site", Secret: siteKey, Role: httpapi.RoleWrite, Origins: []string{origin}},
	}})
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{origin: origin, upstream: httputil.NewSingleHostReverseProxy(u)}
	ps := httptest.NewServer(p)
	t.Cleanup(ps.Close)

	page := template.Must(template.ParseFiles("testdata/page.html"))
	mux := http.NewServeMux()
	for _, path := range []string{"/{$}", "/unload", "/reload", "/tabs", "/bounded"} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			_ = page.Execute(w, map[string]string{"Sluice": s.URL, "Proxy": ps.URL, "Key": siteKey})
		})
	}
	mux.HandleFunc("GET /blank", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<!doctype html><p>away") })
	mux.HandleFunc("GET /proxy/down", func(w http.ResponseWriter, r *http.Request) { p.setDown(true) })
	mux.HandleFunc("GET /proxy/up", func(w http.ResponseWriter, r *http.Request) { p.setDown(false) })
	mux.HandleFunc("GET /stored", func(w http.ResponseWriter, r *http.Request) {
		if len(byLabel(t, s.URL)[r.URL.Query().Get("label")]) == 0 {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)

	out := npmpeers.Run(t, "testdata/browser.cjs", []string{"playwright-core"}, "PAGE_URL="+origin+"/")
	var res struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Errors) > 0 {
		t.Fatalf("the browser script printed %q (%v): want no page errors", out, err)
	}

	labels := byLabel(t, s.URL)
	var want []string
	for i := 1; i <= 12; i++ {
		want = append(want, fmt.Sprintf("retry-%d", i))
	}
	want = append(want, "retry-13", "unload", "reload-1", "reload-2", "reload-3", "tab-a", "tab-b", "bounded-4", "bounded-5", "bounded-6", "bounded-7", "bounded-8")
	for _, dropped := range []string{"bounded-1", "bounded-2", "bounded-3"} {
		if n := len(labels[dropped]); n != 0 {
			t.Errorf("%s stored %d times: beyond maxQueue the oldest must go", dropped, n)
		}
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, label := range want {
		es := labels[label]
		if len(es) != 1 {
			t.Errorf("%s stored %d times, want once", label, len(es))
			continue
		}
		if e := es[0]; !uuid.MatchString(e.ID) || e.Source != "site" || e.Time == "" {
			t.Errorf("%s stored as %+v: want a browser-made UUIDv4 id, source site (the key) and the browser's time", label, e)
		}
	}
	if e := labels["unload"]; len(e) == 1 && (e[0].Stream != "visits-1" || e[0].Type != "test.left") {
		t.Errorf("the unload event is in stream %s with type %s, want visits-1, test.left", e[0].Stream, e[0].Type)
	}

	vitals := labels["web.vitals"]
	if len(vitals) != 1 {
		t.Fatalf("%d web.vitals events, want 1 (from /unload)", len(vitals))
	}
	var v map[string]any
	if err := json.Unmarshal(vitals[0].Data, &v); err != nil {
		t.Fatal(err)
	}
	t.Logf("web.vitals: %s", vitals[0].Data)
	for _, m := range []string{"ttfb", "fcp", "lcp", "cls", "inp"} {
		if _, ok := v[m].(float64); !ok {
			t.Errorf("web.vitals data %s: want %s, a number", vitals[0].Data, m)
		}
	}
	if cls, _ := v["cls"].(float64); cls <= 0 {
		t.Errorf("web.vitals cls %v, want above 0 (the banner shifts the page)", v["cls"])
	}
	if inp, _ := v["inp"].(float64); inp < 80 {
		t.Errorf("web.vitals inp %v, want 80 ms at least (the click handler's)", v["inp"])
	}
	if v["url"] != origin+"/unload" {
		t.Errorf("web.vitals url %v, want %s/unload", v["url"], origin)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.at) != 3 {
		t.Fatalf("the proxy saw %d POSTs, want 3 at least (a 503 and a 429 first): the retries were not tested", p.posts)
	}
	for i := range 2 {
		if gap := p.at[i+1].Sub(p.at[i]); gap < time.Second {
			t.Errorf("POST %d came %s after a 503 or 429 with Retry-After: 1, want at least 1s", i+2, gap)
		}
	}
}

// byLabel reads the whole log by the label in the events' data (the
// web.vitals events under their type).
func byLabel(t *testing.T, base string) map[string][]sluice.Event {
	req, err := http.NewRequest("GET", base+"/v1/events?limit=1000", nil)
	if err != nil {
		t.Error(err)
		return nil
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer resp.Body.Close()
	var page struct {
		Events []sluice.Event `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Error(err)
		return nil
	}
	m := map[string][]sluice.Event{}
	for _, e := range page.Events {
		var d struct {
			Label string `json:"label"`
		}
		_ = json.Unmarshal(e.Data, &d)
		if d.Label == "" {
			d.Label = e.Type
		}
		m[d.Label] = append(m[d.Label], e)
	}
	return m
}
