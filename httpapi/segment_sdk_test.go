package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil/npmpeers"
)

// faultProxy stands in front of sluice and answers 503 with Retry-After
// to the first batches: the first is stored by sluice but its answer is
// lost (the retry must not store it twice), the second never reaches
// sluice. Every other request passes.
type faultProxy struct {
	mu       sync.Mutex
	batches  int // POST /v1/batch requests seen
	faults   int // of them answered 503
	upstream *httputil.ReverseProxy
}

func newFaultProxy(t *testing.T, target string) *httptest.Server {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	fp := &faultProxy{upstream: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		fp.mu.Lock()
		defer fp.mu.Unlock()
		if !t.Failed() && !t.Skipped() && fp.faults < 2 {
			t.Errorf("the proxy answered 503 to %d batches of %d, want 2: the retries were not tested", fp.faults, fp.batches)
		}
	})
	return srv
}

func (fp *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fp.mu.Lock()
	n := 0
	if r.Method == http.MethodPost && r.URL.Path == "/v1/batch" {
		fp.batches++
		n = fp.batches
		if n <= 2 {
			fp.faults++
		}
	}
	fp.mu.Unlock()
	switch n {
	case 1:
		rec := httptest.NewRecorder()
		fp.upstream.ServeHTTP(rec, r) // stored; the answer is lost
		fallthrough
	case 2:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	default:
		fp.upstream.ServeHTTP(w, r)
	}
}

// runNode runs a script of testdata/segment with env, skipping the test
// when node or a package is not installed (failing it under CI), and
// returns what it printed on its standard output.
func runNode(t *testing.T, script string, packages []string, env ...string) []byte {
	t.Helper()
	return npmpeers.Run(t, "testdata/segment/"+script, packages, env...)
}

// eventsByID reads the whole log into a map by id, failing on an id seen
// twice.
func eventsByID(t *testing.T, h *harness) map[string]sluice.Event {
	t.Helper()
	var page logPage
	h.want(get("/v1/events?limit=1000", adminKey), 200, &page)
	byID := map[string]sluice.Event{}
	for _, e := range page.Events {
		if _, seen := byID[e.ID]; seen {
			t.Fatalf("event %s is stored twice", e.ID)
		}
		byID[e.ID] = e
	}
	return byID
}

// TestSegment_AnalyticsNode sends every kind of call with Segment's Node
// SDK through a proxy that answers 503 to the first two batches: the
// SDK's retries deliver every message, once.
func TestSegment_AnalyticsNode(t *testing.T) {
	h := newHarness(t, backends.SQLite(t), testConfig())
	proxy := newFaultProxy(t, h.url)
	runNode(t, "analytics-node.cjs", []string{"@segment/analytics-node"},
		"SLUICE_URL="+proxy.URL, "WRITE_KEY="+writeKey, "PREFIX=an")

	byID := eventsByID(t, h)
	for kind, typ := range map[string]string{
		"track": "segment.track.Order_Completed", "identify": "segment.identify", "page": "segment.page",
		"screen": "segment.screen", "group": "segment.group", "alias": "segment.alias",
	} {
		e, ok := byID["an-"+kind]
		if !ok {
			t.Errorf("the %s call is not stored", kind)
			continue
		}
		d := segmentData(t, e)
		lib, _ := d["context"].(map[string]any)["library"].(map[string]any)
		if e.Type != typ || d["type"] != kind || lib["name"] != "@segment/analytics-node" || d["timestamp"] == nil || d["sentAt"] == nil || d["receivedAt"] == nil {
			t.Errorf("%s stored as type %s with data %s: want type %s, the call's type, context.library, timestamp, sentAt and receivedAt", kind, e.Type, e.Data, typ)
		}
	}
	if d := segmentData(t, byID["an-track"]); d["event"] != "Order Completed" || d["properties"].(map[string]any)["total"] != 12.5 || byID["an-track"].Stream != "user-u-1" {
		t.Errorf("track stored as %+v", byID["an-track"])
	}
	if d := segmentData(t, byID["an-alias"]); d["previousId"] != "anon-1" {
		t.Errorf("alias stored as %s, want previousId", byID["an-alias"].Data)
	}
	if d := segmentData(t, byID["an-group"]); d["groupId"] != "g-1" {
		t.Errorf("group stored as %s, want groupId", byID["an-group"].Data)
	}
}

// TestSegment_RudderStackNode sends a track and an identify with
// RudderStack's Node SDK (gzip bodies, the write key as Basic user).
func TestSegment_RudderStackNode(t *testing.T) {
	h := newHarness(t, backends.SQLite(t), testConfig())
	runNode(t, "rudder-sdk-node.cjs", []string{"@rudderstack/rudder-sdk-node"},
		"SLUICE_URL="+h.url, "WRITE_KEY="+writeKey, "PREFIX=rs")
	byID := eventsByID(t, h)
	if e := byID["rs-track"]; e.Type != "segment.track.Item_Viewed" || e.Stream != "user-u-2" {
		t.Errorf("track stored as %+v", e)
	}
	if e := byID["rs-identify"]; e.Type != "segment.identify" || segmentData(t, e)["traits"] == nil {
		t.Errorf("identify stored as %+v", e)
	}
}

// chromium is Debian's Chromium, which playwright-core drives (.ci/run
// installs it; playwright never downloads a browser here).
const chromium = "/usr/bin/chromium"

// TestSegment_AnalyticsNext loads Segment's browser library
// (@segment/analytics-next) in Chromium from a page of another origin, with
// cdnURL pointing at sluice: the settings come from sluice, the events go
// to sluice, no request leaves the machine, and every event lands once
// (the page is opened twice) with the fields the Segment Spec gives it,
// including one that only the library's flush on leaving the page
// (pagehide) sends.
func TestSegment_AnalyticsNext(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		npmpeers.Skip(t, fmt.Errorf("%s (apt-get install chromium): %w", chromium, npmpeers.ErrNotInstalled))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pageURL := "http://" + l.Addr().String() + "/"
	cfg := testConfig()
	cfg.Keys[3].Origins, cfg.Keys[3].Types = []string{strings.TrimSuffix(pageURL, "/")}, nil
	h := newHarness(t, backends.SQLite(t), cfg)

	page := template.Must(template.ParseFiles("testdata/segment/analytics-next.html"))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{page...}", func(w http.ResponseWriter, r *http.Request) {
		if p := r.PathValue("page"); p != "" && p != "unload" {
			http.NotFound(w, r)
			return
		}
		_ = page.Execute(w, map[string]string{"WriteKey": browserKey, "Sluice": h.url})
	})
	mux.HandleFunc("GET /analytics.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "../internal/testutil/npmpeers/node_modules/@segment/analytics-next/dist/umd/index.js")
	})
	mux.HandleFunc("GET /blank", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "<!doctype html><p>away") })
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)

	out := runNode(t, "analytics-next.cjs", []string{"playwright-core"}, "PAGE_URL="+pageURL)
	var res struct {
		IDs     []string `json:"ids"`
		Outside []string `json:"outside"`
		Failed  []string `json:"failed"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("the browser script printed %q: %v", out, err)
	}
	if len(res.Outside) > 0 || len(res.Failed) > 0 {
		t.Fatalf("requests beyond this machine %v, failed requests %v: want none", res.Outside, res.Failed)
	}
	want := map[string]string{
		"ajs-identify": "segment.identify", "ajs-track": "segment.track.Button_Clicked", "ajs-page": "segment.page",
		"ajs-group": "segment.group", "ajs-alias": "segment.alias", "ajs-unload": "segment.track.Page_Left",
	}
	var byID map[string]sluice.Event
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var missing []string
		byID = eventsByID(t, h)
		for id := range want {
			if _, ok := byID[id]; !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			_, _, metrics := h.do(get("/metrics", adminKey))
			var stored []string
			for id, e := range byID {
				stored = append(stored, id+" ("+e.Type+")")
			}
			t.Fatalf("not stored within 20s: %v; stored: %v; the requests sluice answered:\n%s", missing, stored, grepLines(metrics, `sluice_http_requests_total{code=`))
		}
	}
	for id, typ := range want {
		e := byID[id]
		d := segmentData(t, e)
		ctx, _ := d["context"].(map[string]any)
		lib, _ := ctx["library"].(map[string]any)
		pg, _ := ctx["page"].(map[string]any)
		if e.Type != typ || e.Source != "browser" || lib["name"] != "analytics.js" || ctx["userAgent"] == nil || pg["url"] == nil ||
			d["anonymousId"] == nil || d["timestamp"] == nil || d["sentAt"] == nil || d["receivedAt"] == nil || d["writeKey"] != nil {
			t.Errorf("%s stored as type %s, source %s, data %s: want type %s, the browser key, context.library analytics.js, userAgent and page, anonymousId, timestamp, sentAt, receivedAt and no writeKey",
				id, e.Type, e.Source, e.Data, typ)
		}
	}
	if d := segmentData(t, byID["ajs-track"]); d["event"] != "Button Clicked" || d["userId"] != "u-9" || d["properties"].(map[string]any)["color"] != "red" {
		t.Errorf("track stored as %s, want the event, the identified userId and the properties", byID["ajs-track"].Data)
	}
	if d := segmentData(t, byID["ajs-page"]); d["name"] != "Pricing" || d["category"] != "Docs" {
		t.Errorf("page stored as %s, want name and category", byID["ajs-page"].Data)
	}
}

// grepLines returns the lines of b that contain s.
func grepLines(b []byte, s string) string {
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
