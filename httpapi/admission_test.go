package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backends"
)

// stalledStore holds its first commit until release is closed.
type stalledStore struct {
	sluice.Store
	entered chan struct{}
	release chan struct{}
}

func (s *stalledStore) Append(ctx context.Context, reqs []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	select {
	case s.entered <- struct{}{}: // the first commit only: entered has room for one
		<-s.release
	default:
	}
	return s.Store.Append(ctx, reqs)
}

// TestAdmission_QueueDelay: while a commit is held, async requests are
// queued until the oldest has waited the writer's delay target (100 ms),
// then answered 503 overloaded with Retry-After and counted as
// queue_delay; once the commit goes through, ingest is taken again.
func TestAdmission_QueueDelay(t *testing.T) {
	store := &stalledStore{Store: backends.SQLite(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := newHarness(t, store, testConfig())
	event := `{"type":"a","data":1}`
	h.want(post("/v1/events?ack=async", writeKey, event), http.StatusAccepted, nil)
	<-store.entered // its commit is held: what comes next queues
	queued := time.Now()
	deadline := queued.Add(10 * time.Second)
	for {
		status, hdr, body := h.do(post("/v1/events?ack=async", writeKey, event))
		if status == http.StatusServiceUnavailable {
			if !strings.Contains(string(body), `"code":"overloaded"`) || hdr.Get("Retry-After") == "" {
				t.Fatalf("503 %s, Retry-After %q: want overloaded with Retry-After", body, hdr.Get("Retry-After"))
			}
			break
		}
		if status != http.StatusAccepted {
			t.Fatalf("status %d: %s", status, body)
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue's head waited 10s and requests are still taken")
		}
	}
	if waited := time.Since(queued); waited < sluice.DefaultMaxQueueDelay {
		t.Fatalf("refused after %s, under the target %s", waited, sluice.DefaultMaxQueueDelay)
	}
	close(store.release) // the queue drains: ingest is taken again
	for status := 0; status != http.StatusOK; {
		var body []byte
		status, _, body = h.do(post("/v1/events", writeKey, event))
		if status != http.StatusOK && (status != http.StatusServiceUnavailable || time.Now().After(deadline)) {
			t.Fatalf("once the commit went through: status %d: %s", status, body)
		}
	}
	_, _, metrics := h.do(get("/metrics", readKey))
	if strings.Contains(string(metrics), `sluice_ingest_refused_total{reason="queue_delay"} 0`) {
		t.Fatal("the refusal is not counted as queue_delay")
	}
}
