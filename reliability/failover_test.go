package reliability

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/internal/testutil"
)

// handled records the positions a subscriber handled, and when.
type handled struct {
	mu    sync.Mutex
	seen  []sluice.Position
	first time.Time // of the first batch
}

func (h *handled) handle(_ context.Context, evs []sluice.Event) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.first.IsZero() {
		h.first = time.Now()
	}
	for _, e := range evs {
		h.seen = append(h.seen, e.Position)
	}
	return nil
}

func (h *handled) snapshot() ([]sluice.Position, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]sluice.Position(nil), h.seen...), h.first
}

// TestFailover runs two sluice processes on one PostgreSQL schema, a
// subscriber on each (the second a standby), kills the first process while
// events flow, and checks that the standby takes over from the checkpoint
// once the first reader's lease expires: no event skipped, duplicates at
// most the batch that was unacknowledged.
func TestFailover(t *testing.T) {
	r := report(t, "failover/postgres")
	url, schema := testutil.PostgresSchema(t)
	const ttl = 2 * time.Second
	const batch = 50
	env := []string{"SLUICE_STORE=" + url, "SLUICE_POSTGRES_SCHEMA=" + schema, "SLUICE_HTTP_SUBSCRIPTION_READER_TTL=" + ttl.String()}
	node1 := startServer(t, env, "--data", t.TempDir())
	node2 := startServer(t, env, "--data", t.TempDir())
	c1 := client.New(node1.base, client.WithKey(adminKey))
	c2 := client.New(node2.base, client.WithKey(adminKey))
	ctx := context.Background()
	if _, err := c2.PutSubscription(ctx, "projection", client.SubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}

	var active, standby handled
	subscribe := func(c *client.Client, h *handled, reader string) (stop func()) {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- c.Subscribe(ctx, "projection", h.handle, client.ReaderName(reader), client.BatchSize(batch), client.LongPoll(time.Second))
		}()
		return func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("reader %s: %v", reader, err)
			}
		}
	}
	// The active reader holds the subscription (it has handled an event)
	// before the standby starts.
	if _, err := c2.Ingest(ctx, []sluice.Event{{ID: "fo-first", Type: "failover.test", Data: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	stopActive := subscribe(c1, &active, "node1-reader")
	testutil.Eventually(t, 10*time.Second, func() bool { seen, _ := active.snapshot(); return len(seen) > 0 }, "the active reader did not start")
	stopStandby := subscribe(c2, &standby, "node2-reader")

	// Events flow through node2, which survives.
	const total = 3000
	produced := make(chan sluice.Position, 1)
	go func() {
		var last sluice.Position
		for i := 0; i < total; i += 30 {
			evs := make([]sluice.Event, 30)
			for j := range evs {
				evs[j] = sluice.Event{ID: fmt.Sprintf("fo-%d", i+j), Type: "failover.test", Data: []byte(`{}`)}
			}
			res, err := c2.Ingest(ctx, evs)
			if err != nil {
				t.Errorf("ingest: %v", err)
				break
			}
			last = res.Position
		}
		produced <- last
	}()

	testutil.Eventually(t, 30*time.Second, func() bool { seen, _ := active.snapshot(); return len(seen) >= total/4 }, "the active reader handled nothing")
	node1.Kill()
	killed := time.Now()
	head := <-produced

	testutil.Eventually(t, 30*time.Second, func() bool {
		st, err := c2.GetSubscription(ctx, "projection")
		return err == nil && st.Checkpoint == head
	}, "the standby did not take over and catch up")
	stopStandby()
	stopActive()

	a, _ := active.snapshot()
	b, first := standby.snapshot()
	if len(b) == 0 {
		t.Fatal("the standby handled nothing")
	}
	seen := map[sluice.Position]int{}
	for _, p := range append(a, b...) {
		seen[p]++
	}
	missing, dups := 0, 0
	for p := sluice.Position(1); p <= head; p++ {
		if seen[p] == 0 {
			missing++
		}
		dups += max(seen[p]-1, 0)
	}
	r.add(t, "events", int(head))
	r.add(t, "before_kill", len(a))
	r.add(t, "after_kill", len(b))
	r.add(t, "missing", missing)
	r.add(t, "duplicates", dups)
	r.add(t, "takeover", first.Sub(killed))
	if missing > 0 {
		t.Errorf("%d events never handled", missing)
	}
	if dups > batch {
		t.Errorf("%d duplicates, more than the unacknowledged batch of %d", dups, batch)
	}
	if first.Sub(killed) > ttl+5*time.Second {
		t.Errorf("the standby took over %s after the kill, with a reader TTL of %s", first.Sub(killed), ttl)
	}
}
