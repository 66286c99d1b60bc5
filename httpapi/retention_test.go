package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/testserver"
	"github.com/sluicehq/sluice/sqlite"
)

// trimmedStore is an embedded store of small segments holding 2,000
// events, trimmed so that its first position is past 1; it returns the
// first position.
func trimmedStore(t *testing.T) (*sqlite.Store, sluice.Position) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir(), SegmentSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for n := range 20 {
		evs := make([]sluice.Event, 100)
		for i := range evs {
			evs[i] = sluice.Event{ID: fmt.Sprintf("e-%d-%d", n, i), Type: "t", Stream: "s-1", Data: []byte(`{"n":1}`)}
		}
		if _, err := store.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := store.Trim(ctx, 1500)
	if err != nil || first <= 1 {
		t.Fatalf("trim: first %d, %v", first, err)
	}
	return store, first
}

func TestRetention_Gone(t *testing.T) {
	t.Parallel()
	store, first := trimmedStore(t)
	h := newHarness(t, store, testConfig())
	p := fmt.Sprintf("/v1/events?after=%d", first-2)

	t.Run("ReadLog", func(t *testing.T) {
		var pr struct {
			problem
			FirstPosition sluice.Position `json:"first_position"`
		}
		h.want(get(p, readKey), 410, &pr)
		if pr.Code != "gone" || pr.FirstPosition != first {
			t.Errorf("%+v, want gone at %d", pr, first)
		}
		var page logPage
		h.want(get(fmt.Sprintf("/v1/events?after=%d&limit=1", first-1), readKey), 200, &page)
		if len(page.Events) != 1 || page.Events[0].Position != first {
			t.Errorf("after %d: %+v", first-1, page)
		}
	})
	t.Run("NoPosition", func(t *testing.T) {
		var page logPage
		h.want(get("/v1/events?limit=1", readKey), 200, &page)
		if len(page.Events) != 1 || page.Events[0].Position != first {
			t.Errorf("no after: %+v, want the event at %d", page, first)
		}
	})
	t.Run("Live", func(t *testing.T) {
		h.want(request{method: "GET", path: "/v1/events/live", key: readKey, header: map[string]string{"Last-Event-ID": "1"}}, 410, nil)
	})
	t.Run("Subscription", func(t *testing.T) {
		h.want(request{method: "PUT", path: "/v1/subscriptions/old", key: readKey, contentType: "application/json", body: `{"start": 1}`}, 201, nil)
		h.want(get("/v1/subscriptions/old/events", readKey), 410, nil)
	})
	t.Run("Metrics", func(t *testing.T) {
		_, _, body := h.do(get("/metrics", readKey))
		if want := fmt.Sprintf("sluice_log_first_position %d", first); !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	})
}

// TestRetention_StartAtFirst: with WithStartAtFirst, readers before the
// first position get the events from it, and the gap is counted.
func TestRetention_StartAtFirst(t *testing.T) {
	t.Parallel()
	store, first := trimmedStore(t)
	s := testserver.New(t, store, testConfig(), httpapi.WithStartAtFirst())
	h := &harness{t: t, url: s.URL, srv: s.API, store: store}
	var page logPage
	h.want(get("/v1/events?after=1&limit=1", readKey), 200, &page)
	if len(page.Events) != 1 || page.Events[0].Position != first {
		t.Errorf("after 1: %+v, want the event at %d", page, first)
	}
	h.want(request{method: "PUT", path: "/v1/subscriptions/old", key: readKey, contentType: "application/json", body: `{"start": 1}`}, 201, nil)
	var batch struct {
		Events   []sluice.Event  `json:"events"`
		Position sluice.Position `json:"position"`
	}
	h.want(get("/v1/subscriptions/old/events?limit=1", readKey), 200, &batch)
	if len(batch.Events) != 1 || batch.Events[0].Position != first {
		t.Errorf("subscription at 1: %+v, want the event at %d", batch, first)
	}
	_, _, body := h.do(get("/metrics", readKey))
	for _, want := range []string{
		fmt.Sprintf(`sluice_retention_skipped_positions_total{reader="http"} %d`, first-2),
		fmt.Sprintf(`sluice_retention_skipped_positions_subscriptions_total %d`, first-2),
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestBackup_Endpoint: POST /v1/admin/backup takes admin keys only.
func TestBackup_Endpoint(t *testing.T) {
	t.Parallel()
	store, _ := trimmedStore(t)
	h := newHarness(t, store, testConfig())
	h.want(request{method: "POST", path: "/v1/admin/backup", key: readKey}, 403, nil)
	status, header, body := h.do(request{method: "POST", path: "/v1/admin/backup", key: adminKey})
	if status != 200 || header.Get("Content-Type") != "application/x-tar" || len(body) < 1024 {
		t.Fatalf("backup: %d %s, %d bytes", status, header.Get("Content-Type"), len(body))
	}
}
