package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
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
		if !t.Failed() && fp.faults < 2 {
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
// when node or a package is not installed (failing it under CI).
func runNode(t *testing.T, script string, packages []string, env ...string) {
	t.Helper()
	cmd, err := npmpeers.Node("testdata/segment/"+script, packages)
	npmpeers.Skip(t, err)
	cmd.Env = append(cmd.Env, env...)
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := cmd.CombinedOutput()
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("%s: %v\n%s", script, r.err, r.out)
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("%s: still running after 2 minutes", script)
	}
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
