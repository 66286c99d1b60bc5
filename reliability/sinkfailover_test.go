package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/internal/testutil"
)

// hookReceiver is a webhook receiver that records each event id it is
// delivered, and when the first came after a moment.
type hookReceiver struct {
	mu    sync.Mutex
	ids   []string
	after time.Time // the first delivery after it is noted
	first time.Time
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var batch struct{ Events []struct{ ID string } }
	if err != nil || json.Unmarshal(body, &batch) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range batch.Events {
		h.ids = append(h.ids, e.ID)
	}
	if !h.after.IsZero() && h.first.IsZero() {
		h.first = time.Now()
	}
}

func (h *hookReceiver) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ids)
}

// TestSinkFailover runs two sluice processes on one PostgreSQL schema with
// a webhook sink, kills the one that runs the sink while events flow, and
// checks that the other takes the sink over from its checkpoint once the
// lease expires: no event lost, duplicates at most the batch in flight.
func TestSinkFailover(t *testing.T) {
	r := report(t, "sink failover/postgres")
	url, schema := testutil.PostgresSchema(t)
	hook := &hookReceiver{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	const batch, ttl = 20, 2 * time.Second
	cfg := fmt.Sprintf("sinks:\n  - {name: hook, type: webhook, url: %q, lease_ttl: %s, batch: {max_events: %d}}\n", srv.URL, ttl, batch)
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SLUICE_STORE=" + url, "SLUICE_POSTGRES_SCHEMA=" + schema}
	node1 := startServer(t, append(env, "SLUICE_NODE=node1"), "--data", t.TempDir(), "--config", path)
	c1 := client.New(node1.base, client.WithKey(adminKey))
	ctx := context.Background()
	if _, err := c1.Ingest(ctx, []sluice.Event{{ID: "sf-first", Type: "failover.test", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return hook.count() > 0 }, "node1 delivered nothing")
	node2 := startServer(t, append(env, "SLUICE_NODE=node2"), "--data", t.TempDir(), "--config", path)
	c2 := client.New(node2.base, client.WithKey(adminKey))

	const total = 3000
	produced := make(chan int, 1)
	go func() {
		n := 0
		for i := 0; i < total; i += 30 {
			evs := make([]sluice.Event, 30)
			for j := range evs {
				evs[j] = sluice.Event{ID: fmt.Sprintf("sf-%d", i+j), Type: "failover.test", Data: []byte(`{}`)}
			}
			if _, err := c2.Ingest(ctx, evs); err != nil {
				t.Errorf("ingest: %v", err)
				break
			}
			n += len(evs)
		}
		produced <- n
	}()
	testutil.Eventually(t, 30*time.Second, func() bool { return hook.count() >= total/4 }, "node1 delivered too little")
	node1.Kill()
	hook.mu.Lock()
	killed := time.Now()
	hook.after = killed
	before := len(hook.ids)
	hook.mu.Unlock()
	sent := <-produced

	want := map[string]bool{"sf-first": true}
	for i := range sent {
		want[fmt.Sprintf("sf-%d", i)] = true
	}
	testutil.Eventually(t, 60*time.Second, func() bool {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		seen := map[string]bool{}
		for _, id := range hook.ids {
			seen[id] = true
		}
		return len(seen) == len(want)
	}, "node2 did not take the sink over and deliver every event")
	hook.mu.Lock()
	ids, first := append([]string(nil), hook.ids...), hook.first
	hook.mu.Unlock()
	seen := map[string]int{}
	for _, id := range ids {
		seen[id]++
	}
	dups := len(ids) - len(seen)
	missing := 0
	for id := range want {
		if seen[id] == 0 {
			missing++
		}
	}
	r.add(t, "events", len(want))
	r.add(t, "before_kill", before)
	r.add(t, "missing", missing)
	r.add(t, "duplicates", dups)
	r.add(t, "takeover", first.Sub(killed))
	if missing > 0 {
		t.Errorf("%d events never delivered", missing)
	}
	if dups > batch {
		t.Errorf("%d duplicates, more than the batch in flight (%d)", dups, batch)
	}
	a := do(ctx, http.DefaultClient, "GET", node2.base+"/v1/sinks/hook", adminKey, nil)
	var st struct{ Node, State string }
	if err := json.Unmarshal(a.body, &st); err != nil || st.Node != "node2" {
		t.Errorf("the sink's state after the takeover: %s (%v), want it run by node2", a.body, err)
	}
}
