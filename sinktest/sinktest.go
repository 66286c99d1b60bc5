package sinktest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sink"
)

// Run runs the conformance suite against a sink type; each subtest gets a
// fresh destination from newHarness.
func Run(t *testing.T, newHarness New, f Features) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*testing.T, Harness, Features)
	}{
		{"Ordered", testOrdered},
		{"PartialFailures", testPartialFailures},
		{"Outage", testOutage},
		{"DeadLetters", testDeadLetters},
		{"Replay", testReplay},
		{"Restart", testRestart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newHarness(t), f) })
	}
}

// The suite's sink is called this.
const sinkName = "conformance"

// deadline bounds every wait of the suite.
const deadline = 30 * time.Second

// running is a sink run in-process over a fresh embedded store.
type running struct {
	store sluice.Store
	m     *sink.Manager
}

// config is the suite's sink configuration: small batches, fast retries,
// a breaker that opens after three failed deliveries.
func config(h Harness) sink.Config {
	return sink.Config{Name: sinkName, Type: "conformance",
		Batch:   sink.Batch{MaxEvents: 7, Linger: h.Linger},
		Retry:   sink.Retry{MaxAttempts: 1000, MaxAge: time.Hour, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		Breaker: sink.Breaker{Failures: 3, OpenFor: 200 * time.Millisecond}, LeaseTTL: 2 * time.Second}
}

// start runs the harness's sink until the test ends.
func start(t *testing.T, h Harness) *running {
	t.Helper()
	store := backends.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := h.Destination.Open(ctx, sink.Env{Name: sinkName, Node: "node-1"})
	if err != nil {
		t.Fatalf("open the sink: %v", err)
	}
	r, err := sink.NewRunner(store, s, config(h), h.Destination.Limits(), sink.RunnerOptions{Node: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	m := sink.NewManager(store, nil)
	if err := m.Add(r); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := m.Close(); err != nil {
			t.Errorf("close the sink: %v", err)
		}
	})
	return &running{store: store, m: m}
}

// events makes n events with ids prefix-000…, over three streams in turn.
func events(prefix string, from, n int) []sluice.Event {
	evs := make([]sluice.Event, n)
	for i := range evs {
		k := from + i
		evs[i] = sluice.Event{ID: fmt.Sprintf("%s-%03d", prefix, k), Type: "conformance.test", Stream: fmt.Sprintf("s%d", k%3),
			Data: json.RawMessage(fmt.Sprintf(`{"n": %d, "text": "<&> é"}`, k))}
	}
	return evs
}

// appendAll appends the events in commits of seven and returns the head.
func (r *running) appendAll(t *testing.T, evs []sluice.Event) sluice.Position {
	t.Helper()
	var head sluice.Position
	for chunk := range slices.Chunk(evs, 7) {
		res, err := r.store.Append(context.Background(), []sluice.AppendRequest{{Events: chunk}})
		if err != nil {
			t.Fatal(err)
		}
		head = res[0].Position()
	}
	return head
}

// waitCheckpoint waits until the sink's checkpoint is at p.
func (r *running) waitCheckpoint(t *testing.T, p sluice.Position) {
	t.Helper()
	testutil.Eventually(t, deadline, func() bool {
		cp, err := r.store.Checkpoint(context.Background(), sluice.SinkConsumer(sinkName))
		return err == nil && cp == p
	}, fmt.Sprintf("the checkpoint did not reach %d", p))
}

// got is a record as the destination received it.
type got struct {
	ID       string          `json:"id"`
	Stream   string          `json:"stream"`
	Position sluice.Position `json:"position"`
}

// received decodes what the destination holds.
func received(t *testing.T, h Harness) []got {
	t.Helper()
	var out []got
	for _, b := range h.Received(t) {
		var g got
		if err := json.Unmarshal(b, &g); err != nil || g.ID == "" {
			t.Fatalf("the destination holds %q, not a stored event (%v)", b, err)
		}
		out = append(out, g)
	}
	return out
}

// count returns how many times each id was received.
func count(gs []got) map[string]int {
	n := map[string]int{}
	for _, g := range gs {
		n[g.ID]++
	}
	return n
}

// waitReceived waits until every id was received at least once, and
// returns what was.
func waitReceived(t *testing.T, h Harness, ids []string) []got {
	t.Helper()
	var gs []got
	testutil.Eventually(t, deadline, func() bool {
		gs = received(t, h)
		n := count(gs)
		for _, id := range ids {
			if n[id] == 0 {
				return false
			}
		}
		return true
	}, fmt.Sprintf("the destination did not receive all %d events", len(ids)))
	return gs
}

func ids(evs []sluice.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// lastInOrder fails the test unless each stream's last deliveries of its
// events came in position order.
func lastInOrder(t *testing.T, gs []got) {
	t.Helper()
	last := map[string]int{}
	for i, g := range gs {
		last[g.ID] = i
	}
	prev := map[string]sluice.Position{}
	for i, g := range gs {
		if last[g.ID] != i {
			continue
		}
		if g.Position < prev[g.Stream] {
			t.Fatalf("stream %s: the last delivery of position %d came after that of %d", g.Stream, g.Position, prev[g.Stream])
		}
		prev[g.Stream] = g.Position
	}
}

// testOrdered: every event once, each stream in log order, the checkpoint
// at the head.
func testOrdered(t *testing.T, h Harness, _ Features) {
	r := start(t, h)
	evs := events("ord", 0, 60)
	head := r.appendAll(t, evs)
	gs := waitReceived(t, h, ids(evs))
	r.waitCheckpoint(t, head)
	for id, n := range count(received(t, h)) {
		if n != 1 {
			t.Fatalf("%s received %d times with no fault, want once", id, n)
		}
	}
	prev := map[string]sluice.Position{}
	for _, g := range gs {
		if g.Position <= prev[g.Stream] {
			t.Fatalf("stream %s: position %d received after %d", g.Stream, g.Position, prev[g.Stream])
		}
		prev[g.Stream] = g.Position
	}
}

// testPartialFailures: records that fail a few times while the rest of
// their batch goes are delivered in the end; the other streams' records
// once; each stream's last deliveries in order.
func testPartialFailures(t *testing.T, h Harness, _ Features) {
	if h.Flaky == nil {
		t.Skip("the destination takes batches whole")
	}
	evs := events("part", 0, 40)
	flaky := []string{evs[0].ID, evs[3].ID, evs[9].ID} // stream s0
	h.Flaky(t, flaky, 2)
	r := start(t, h)
	head := r.appendAll(t, evs)
	waitReceived(t, h, ids(evs))
	r.waitCheckpoint(t, head)
	gs := received(t, h)
	lastInOrder(t, gs)
	n := count(gs)
	for _, e := range evs {
		if e.Stream != evs[0].Stream && n[e.ID] != 1 {
			t.Fatalf("%s, of another stream than the failing records, received %d times", e.ID, n[e.ID])
		}
	}
	if dead, _ := r.m.DeadLetters(context.Background(), sinkName, 0, 10); len(dead) != 0 {
		t.Fatalf("dead letters %+v: retryable failures within the budget", dead)
	}
}

// testOutage: while the destination is down the breaker opens; once it is
// back everything is delivered, nothing lost, nothing dead-lettered.
func testOutage(t *testing.T, h Harness, _ Features) {
	h.Outage(t, true)
	r := start(t, h)
	evs := events("out", 0, 30)
	r.appendAll(t, evs[:10])
	testutil.Eventually(t, deadline, func() bool {
		st := r.m.Stats()[0]
		return st.Counts.Failed > 0 && st.Breaker == 2
	}, "the breaker did not open while the destination was down")
	head := r.appendAll(t, evs[10:])
	h.Outage(t, false)
	waitReceived(t, h, ids(evs))
	r.waitCheckpoint(t, head)
	if dead, _ := r.m.DeadLetters(context.Background(), sinkName, 0, 10); len(dead) != 0 {
		t.Fatalf("dead letters %+v after an outage within the budget", dead)
	}
}

// testDeadLetters: records the destination refuses for good go to the
// dead letters (and only those, where it refuses records one by one); the
// checkpoint passes them; a redrive delivers them once it takes them.
func testDeadLetters(t *testing.T, h Harness, f Features) {
	if h.Refuse == nil {
		t.Skip("the destination cannot refuse a record")
	}
	evs := events("dlq", 0, 20)
	refused := []string{evs[4].ID, evs[11].ID}
	h.Refuse(t, refused)
	r := start(t, h)
	head := r.appendAll(t, evs)
	r.waitCheckpoint(t, head)
	ctx := context.Background()
	dead, err := r.m.DeadLetters(ctx, sinkName, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	deadIDs := map[string]bool{}
	for _, d := range dead {
		deadIDs[d.Event.ID] = true
	}
	n := count(received(t, h))
	for _, id := range refused {
		if !deadIDs[id] || n[id] > 0 {
			t.Fatalf("%s was refused: dead-lettered %v, received %d times; want dead-lettered only", id, deadIDs[id], n[id])
		}
	}
	for _, e := range evs {
		if n[e.ID] == 0 && !deadIDs[e.ID] {
			t.Fatalf("%s neither delivered nor dead-lettered", e.ID)
		}
		if f.RecordRefusals && deadIDs[e.ID] && !slices.Contains(refused, e.ID) {
			t.Fatalf("%s dead-lettered though only %v were refused", e.ID, refused)
		}
	}
	h.Refuse(t, nil)
	res, err := r.m.Redrive(ctx, sinkName, sink.RedriveRequest{Limit: 100})
	if err != nil || res.Redriven != len(dead) || len(res.Failed) != 0 {
		t.Fatalf("redrive: %+v %v, want all %d redriven", res, err, len(dead))
	}
	waitReceived(t, h, ids(evs))
	if left, _ := r.m.DeadLetters(ctx, sinkName, 0, 100); len(left) != 0 {
		t.Fatalf("dead letters left after a redrive: %d", len(left))
	}
}

// testReplay: a replay delivers the range again, beside live delivery.
func testReplay(t *testing.T, h Harness, _ Features) {
	r := start(t, h)
	evs := events("rep", 0, 20)
	head := r.appendAll(t, evs)
	waitReceived(t, h, ids(evs))
	r.waitCheckpoint(t, head)
	ctx := context.Background()
	if _, err := r.m.Replay(ctx, sinkName, sink.ReplayRequest{FromPosition: 6}); err != nil {
		t.Fatal(err)
	}
	more := events("rep", 20, 5)
	live := r.appendAll(t, more)
	testutil.Eventually(t, deadline, func() bool {
		n := count(received(t, h))
		for i, e := range append(slices.Clone(evs), more...) {
			want := 1
			if i >= 5 && i < len(evs) {
				want = 2
			}
			if n[e.ID] < want {
				return false
			}
		}
		return true
	}, "the replay and the live events were not all delivered")
	r.waitCheckpoint(t, live)
	testutil.Eventually(t, deadline, func() bool {
		st, err := r.m.State(ctx, sinkName)
		return err == nil && st.Replay == nil && st.LastReplay != nil && st.LastReplay.Through == head
	}, "the replay did not finish")
}
