package sink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/testutil/memsink"
	"github.com/sluicehq/sluice/sink"
)

// fast is a configuration that retries within milliseconds.
func fast(name string) sink.Config {
	return sink.Config{Name: name, Type: "mem",
		Batch:   sink.Batch{MaxEvents: 10, MaxBytes: 1 << 20},
		Retry:   sink.Retry{MaxAttempts: 3, MaxAge: time.Millisecond, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		Breaker: sink.Breaker{Failures: 1000, OpenFor: 50 * time.Millisecond}, LeaseTTL: time.Second}
}

// start runs a manager of the one sink until the test ends.
func start(t *testing.T, s sluice.Store, dest sluice.Sink, cfg sink.Config, limits sink.Limits) *sink.Manager {
	t.Helper()
	return startWith(t, s, dest, cfg, limits, sink.RunnerOptions{Node: "node-1"})
}

// startWith is start with the runner's options.
func startWith(t *testing.T, s sluice.Store, dest sluice.Sink, cfg sink.Config, limits sink.Limits, opts sink.RunnerOptions) *sink.Manager {
	t.Helper()
	r, err := sink.NewRunner(s, dest, cfg, limits, opts)
	if err != nil {
		t.Fatal(err)
	}
	m := sink.NewManager(s, nil)
	if err := m.Add(r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// appendEvents appends one event per stream name given, in order, and
// returns the last position.
func appendEvents(t *testing.T, s sluice.Log, streams ...string) sluice.Position {
	t.Helper()
	evs := make([]sluice.Event, len(streams))
	for i, st := range streams {
		evs[i] = sluice.Event{Type: "order.placed", Stream: st, Data: json.RawMessage(fmt.Sprintf(`{"i": %d}`, i))}
	}
	res, err := s.Append(context.Background(), []sluice.AppendRequest{{Events: evs}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Position()
}

// streamsOf returns n stream names cycling through the given ones.
func streamsOf(n int, names ...string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = names[i%len(names)]
	}
	return out
}

func checkpoint(t *testing.T, s sluice.Checkpoints, name string) sluice.Position {
	t.Helper()
	p, err := s.Checkpoint(context.Background(), sluice.SinkConsumer(name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitCheckpoint waits until the sink's checkpoint is at p.
func waitCheckpoint(t *testing.T, s sluice.Checkpoints, name string, p sluice.Position) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool { return checkpoint(t, s, name) == p }, fmt.Sprintf("the checkpoint did not reach %d", p))
}

// inOrderPerStream fails the test unless, for each stream, the last
// delivery of each position comes in position order.
func inOrderPerStream(t *testing.T, ds []memsink.Delivery) {
	t.Helper()
	last := map[sluice.Position]int{}
	for i, d := range ds {
		last[d.Pos] = i
	}
	prev := map[string]sluice.Position{}
	for i, d := range ds {
		if last[d.Pos] != i {
			continue
		}
		if d.Pos < prev[d.Stream] {
			t.Fatalf("stream %s: position %d's last delivery came after %d's", d.Stream, d.Pos, prev[d.Stream])
		}
		prev[d.Stream] = d.Pos
	}
}

func TestRunner_Delivers(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		appendEvents(t, s, streamsOf(25, "order-1", "order-2", "cart-1")...)
		dest := &memsink.Sink{}
		cfg := fast("all")
		cfg.Filter = sink.Filter{Category: "order"}
		start(t, s, dest, cfg, sink.Limits{})
		head := appendEvents(t, s, streamsOf(5, "order-3", "cart-2")...) // live, after the catch-up
		waitCheckpoint(t, s, "all", head)
		var want []sluice.Position
		for p := sluice.Position(1); p <= 25; p++ {
			if p%3 != 0 { // cart-1 is every third
				want = append(want, p)
			}
		}
		want = append(want, 26, 28, 30)
		if got := dest.Positions(); !slices.Equal(got, want) {
			t.Fatalf("delivered %v, want %v: once each, in order, the filter's only", got, want)
		}
		// Each body is the stored event as GET /v1/events returns it.
		evs, err := s.ReadLog(context.Background(), 0, sluice.Filter{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := dest.Deliveries()[0].Body; got != string(evs[0].AppendJSON(nil)) {
			t.Fatalf("body %s, want %s", got, evs[0].AppendJSON(nil))
		}
	})
}

func TestRunner_Transform(t *testing.T) {
	s := backends.SQLite(t)
	head := appendEvents(t, s, "order-1", "order-2", "order-3")
	dest := &memsink.Sink{}
	cfg := fast("reshaped")
	cfg.Transform = `if .stream == "order-2" then empty elif .stream == "order-3" then error("no") else {id, n: .data.i} end`
	m := start(t, s, dest, cfg, sink.Limits{})
	waitCheckpoint(t, s, "reshaped", head)
	ds := dest.Deliveries()
	if len(ds) != 1 || ds[0].Pos != 1 {
		t.Fatalf("delivered %+v, want position 1 only (2 dropped, 3 failed)", ds)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(ds[0].Body), &body); err != nil || body["n"] != float64(0) || body["id"] == "" || len(body) != 2 {
		t.Fatalf("body %s (%v), want the transform's {id, n}", ds[0].Body, err)
	}
	dead, err := m.DeadLetters(context.Background(), "reshaped", 0, 10)
	if err != nil || len(dead) != 1 || dead[0].Event.Position != 3 || !strings.Contains(dead[0].Error, "transform") {
		t.Fatalf("dead letters %+v %v, want the event the transform failed on", dead, err)
	}
}

// A record that fails holds back the later records of its stream only;
// those of its stream that were delivered in the same batch go again
// after it.
func TestRunner_PartialFailure(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		dest := &memsink.Sink{}
		fails := 0
		dest.Script(func(n int, recs []sluice.SinkRecord) error {
			var failed []sluice.RecordError
			for i, r := range recs {
				if r.Event.Position == 2 && fails < 2 { // a-2 fails twice
					fails++
					failed = append(failed, sluice.RecordError{Index: i, Err: errors.New("throttled")})
				}
			}
			if failed != nil {
				return &sluice.DeliveryError{Failed: failed}
			}
			return nil
		})
		head := appendEvents(t, s, "a", "a", "b", "a", "b", "c")
		start(t, s, dest, fast("partial"), sink.Limits{})
		waitCheckpoint(t, s, "partial", head)
		ds := dest.Deliveries()
		inOrderPerStream(t, ds)
		seen := map[sluice.Position]int{}
		for _, d := range ds {
			seen[d.Pos]++
		}
		for p := sluice.Position(1); p <= head; p++ {
			if seen[p] == 0 {
				t.Fatalf("position %d never delivered: %+v", p, ds)
			}
		}
		if seen[3]+seen[5]+seen[6] != 3 {
			t.Fatalf("the other streams' records went again: %v", seen)
		}
		if seen[4] != 3 {
			t.Fatalf("a-4, delivered in the batch where a-2 failed, was delivered %d times, want again with each retry of a-2 (3)", seen[4])
		}
	})
}

// Permanent failures and spent budgets go to the dead letters; the
// checkpoint passes them; redrive delivers them once the destination
// takes them.
func TestRunner_DeadLetters(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		ctx := context.Background()
		dest := &memsink.Sink{}
		refuse := true
		var mu sync.Mutex
		dest.Script(func(n int, recs []sluice.SinkRecord) error {
			mu.Lock()
			defer mu.Unlock()
			var failed []sluice.RecordError
			for i, r := range recs {
				switch {
				case !refuse:
				case r.Event.Position == 2:
					failed = append(failed, sluice.RecordError{Index: i, Err: sluice.Permanent(errors.New("400 bad record"))})
				case r.Event.Position == 4:
					failed = append(failed, sluice.RecordError{Index: i, Err: errors.New("503 busy")})
				}
			}
			if failed != nil {
				return &sluice.DeliveryError{Failed: failed}
			}
			return nil
		})
		head := appendEvents(t, s, "a", "b", "c", "d", "e")
		m := start(t, s, dest, fast("dlq"), sink.Limits{})
		waitCheckpoint(t, s, "dlq", head)
		dead, err := m.DeadLetters(ctx, "dlq", 0, 10)
		if err != nil || len(dead) != 2 || dead[0].Event.Position != 2 || dead[1].Event.Position != 4 {
			t.Fatalf("dead letters %+v %v, want positions 2 and 4", dead, err)
		}
		if dead[0].Attempts != 1 || dead[0].Error != "400 bad record" || dead[1].Attempts != 3 || dead[1].Error != "503 busy" {
			t.Fatalf("dead letters %+v: want 1 attempt for the permanent failure, the budget's 3 for the retryable one", dead)
		}
		testutil.Eventually(t, 5*time.Second, func() bool {
			st, err := m.State(ctx, "dlq")
			return err == nil && st.DeadLetters == 2 && st.Counts.DeadLettered == 2 && st.LastError == "503 busy" && st.State == sink.StateRunning
		}, "the state does not show the dead letters")
		// The destination takes them now.
		mu.Lock()
		refuse = false
		mu.Unlock()
		res, err := m.Redrive(ctx, "dlq", sink.RedriveRequest{IDs: []string{dead[1].Event.ID}})
		if err != nil || res.Redriven != 1 || len(res.Failed) != 0 || res.More {
			t.Fatalf("redrive one: %+v %v", res, err)
		}
		res, err = m.Redrive(ctx, "dlq", sink.RedriveRequest{})
		if err != nil || res.Redriven != 1 {
			t.Fatalf("redrive the rest: %+v %v", res, err)
		}
		if left, _ := m.DeadLetters(ctx, "dlq", 0, 10); len(left) != 0 {
			t.Fatalf("dead letters left after redrive: %+v", left)
		}
		ps := dest.Positions()
		if !slices.Equal(ps[len(ps)-2:], []sluice.Position{4, 2}) {
			t.Fatalf("delivered %v, want 4 then 2 redriven last", ps)
		}
	})
}

// A record whose attempts are spent stays until its time is too.
func TestRunner_RetryBudget(t *testing.T) {
	s := backends.SQLite(t)
	dest := &memsink.Sink{}
	dest.Script(func(n int, recs []sluice.SinkRecord) error { return errors.New("503") })
	cfg := fast("budget")
	cfg.Retry.MaxAge = 300 * time.Millisecond
	cfg.Retry.MaxAttempts = 2
	head := appendEvents(t, s, "a")
	began := time.Now()
	m := start(t, s, dest, cfg, sink.Limits{})
	waitCheckpoint(t, s, "budget", head)
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Fatalf("dead-lettered after %v, before its max_age", took)
	}
	dead, _ := m.DeadLetters(context.Background(), "budget", 0, 10)
	if len(dead) != 1 || dead[0].Attempts < 3 {
		t.Fatalf("dead letters %+v: want one, tried past its 2 attempts while its time lasted", dead)
	}
}

// Retry-After is honoured, and the breaker opens after failures in a row:
// the destination then gets one probe per interval.
func TestRunner_BackoffAndBreaker(t *testing.T) {
	s := backends.SQLite(t)
	dest := &memsink.Sink{}
	var mu sync.Mutex
	var calls []time.Time
	down := true
	dest.Script(func(n int, recs []sluice.SinkRecord) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, time.Now())
		if down {
			return sluice.RetryAfter(errors.New("429"), 40*time.Millisecond)
		}
		return nil
	})
	cfg := fast("breaker")
	cfg.Retry.MaxAttempts, cfg.Retry.MaxAge = 1000, time.Hour
	cfg.Breaker = sink.Breaker{Failures: 3, OpenFor: 300 * time.Millisecond}
	head := appendEvents(t, s, "a", "b")
	m := start(t, s, dest, cfg, sink.Limits{})
	ctx := context.Background()
	testutil.Eventually(t, 5*time.Second, func() bool { return m.Stats()[0].Breaker == 2 }, "the breaker did not open")
	mu.Lock()
	opened := len(calls)
	for i := 1; i < opened; i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < 40*time.Millisecond {
			t.Errorf("attempt %d came %v after the last, before the Retry-After of 40ms", i, gap)
		}
	}
	mu.Unlock()
	if opened != 3 {
		t.Fatalf("%d attempts before the breaker opened, want 3", opened)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		st, err := m.State(ctx, "breaker")
		return err == nil && st.State == sink.StateCircuitOpen
	}, "the state does not say circuit_open")
	// Two probes, an open interval apart at least.
	testutil.Eventually(t, 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) >= opened+2
	}, "no probes")
	mu.Lock()
	for i := opened; i < len(calls); i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < 300*time.Millisecond {
			t.Errorf("probe %d came %v after the attempt before, within the open interval", i-opened, gap)
		}
	}
	down = false
	mu.Unlock()
	waitCheckpoint(t, s, "breaker", head)
	testutil.Eventually(t, 5*time.Second, func() bool {
		st, err := m.State(ctx, "breaker")
		return err == nil && st.State == sink.StateRunning
	}, "the sink did not run again")
}

// A destination that disables the sink stops it until it is resumed; a
// pause stops it too.
func TestRunner_DisableAndPause(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		ctx := context.Background()
		dest := &memsink.Sink{}
		gone := true
		var mu sync.Mutex
		dest.Script(func(n int, recs []sluice.SinkRecord) error {
			mu.Lock()
			defer mu.Unlock()
			if gone {
				return fmt.Errorf("410 Gone: %w", sluice.ErrSinkDisabled)
			}
			return nil
		})
		appendEvents(t, s, "a", "b")
		m := start(t, s, dest, fast("hook"), sink.Limits{})
		testutil.Eventually(t, 5*time.Second, func() bool {
			st, err := m.State(ctx, "hook")
			return err == nil && st.State == sink.StateDisabled && st.Disabled != ""
		}, "the sink was not disabled")
		mu.Lock()
		gone = false
		mu.Unlock()
		if cp := checkpoint(t, s, "hook"); cp != 0 {
			t.Fatalf("checkpoint %d while disabled", cp)
		}
		if _, err := m.Resume(ctx, "hook"); err != nil {
			t.Fatal(err)
		}
		waitCheckpoint(t, s, "hook", 2)

		st, err := m.Pause(ctx, "hook")
		if err != nil || !st.Paused || st.State != sink.StateStopped {
			t.Fatalf("pause: %+v %v", st, err)
		}
		head := appendEvents(t, s, "c")
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
			if checkpoint(t, s, "hook") != 2 {
				t.Fatal("a paused sink delivered")
			}
		}
		if _, err := m.Resume(ctx, "hook"); err != nil {
			t.Fatal(err)
		}
		waitCheckpoint(t, s, "hook", head)
		if got := dest.Positions(); !slices.Equal(got, []sluice.Position{1, 2, 3}) {
			t.Fatalf("delivered %v", got)
		}
	})
}

// A replay delivers a range again on a cursor of its own while live
// delivery goes on.
func TestRunner_Replay(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		ctx := context.Background()
		dest := &memsink.Sink{}
		head := appendEvents(t, s, streamsOf(30, "a", "b")...)
		m := start(t, s, dest, fast("again"), sink.Limits{})
		waitCheckpoint(t, s, "again", head)
		if _, err := m.Replay(ctx, "again", sink.ReplayRequest{FromPosition: head + 1}); !errors.Is(err, sink.ErrNothingToReplay) {
			t.Fatalf("a replay after the checkpoint: %v", err)
		}
		st, err := m.Replay(ctx, "again", sink.ReplayRequest{FromPosition: 11})
		if err != nil || st.Replay == nil || st.Replay.After != 10 || st.Replay.Through != head {
			t.Fatalf("replay: %+v %v", st.Replay, err)
		}
		live := appendEvents(t, s, "c", "c")
		waitCheckpoint(t, s, "again", live)
		testutil.Eventually(t, 10*time.Second, func() bool {
			st, err := m.State(ctx, "again")
			return err == nil && st.Replay == nil && st.LastReplay != nil && !st.LastReplay.DoneAt.IsZero()
		}, "the replay did not finish")
		seen := map[sluice.Position]int{}
		for _, p := range dest.Positions() {
			seen[p]++
		}
		for p := sluice.Position(1); p <= live; p++ {
			want := 1
			if p >= 11 && p <= head {
				want = 2
			}
			if seen[p] != want {
				t.Fatalf("position %d delivered %d times, want %d", p, seen[p], want)
			}
		}
		// By time: from the first event committed at or after it (the
		// first of its commit).
		evs, _ := s.ReadLog(ctx, live-1, sluice.Filter{}, 1)
		st, err = m.Replay(ctx, "again", sink.ReplayRequest{FromTime: evs[0].RecordedAt})
		if err != nil || st.Replay == nil || st.Replay.After != head {
			t.Fatalf("replay from the time of position %d: %+v %v, want after %d", live, st.Replay, err, head)
		}
	})
}

// A new sink can start at the end of the log; records over the
// destination's limit go to the dead letters.
func TestRunner_StartAndLimits(t *testing.T) {
	s := backends.SQLite(t)
	appendEvents(t, s, "old", "old")
	dest := &memsink.Sink{}
	cfg := fast("tail")
	cfg.Start = "end"
	m := start(t, s, dest, cfg, sink.Limits{MaxRecordBytes: 150})
	waitCheckpoint(t, s, "tail", 2)
	res, err := s.Append(context.Background(), []sluice.AppendRequest{{Events: []sluice.Event{
		{Type: "t", Data: json.RawMessage(`1`)},
		{Type: "t", Data: json.RawMessage(`"` + strings.Repeat("x", 200) + `"`)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, s, "tail", res[0].Position())
	if got := dest.Positions(); !slices.Equal(got, []sluice.Position{3}) {
		t.Fatalf("delivered %v, want only the new small event", got)
	}
	dead, _ := m.DeadLetters(context.Background(), "tail", 0, 10)
	if len(dead) != 1 || dead[0].Event.Position != 4 {
		t.Fatalf("dead letters %+v, want the large record", dead)
	}
}

// Batches far larger than a read (an archive's objects: millions of
// records, megabytes) are read in pages, and ahead of the batch by at
// most 8 MiB: the records held stay within a batch, 8 MiB and a page,
// however many a batch may count.
func TestRunner_LargeBatchesReadInPages(t *testing.T) {
	s := backends.SQLite(t)
	ctx := context.Background()
	data := json.RawMessage(`"` + strings.Repeat("x", 4000) + `"`)
	for range 10 {
		evs := make([]sluice.Event, 1000)
		for i := range evs {
			evs[i] = sluice.Event{Type: "t", Stream: fmt.Sprintf("s%d", i%3), Data: data}
		}
		if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
			t.Fatal(err)
		}
	}
	dest := &memsink.Sink{}
	dest.Script(func(int, []sluice.SinkRecord) error { return errors.New("down") })
	cfg := fast("archive")
	cfg.Batch = sink.Batch{MaxEvents: 1 << 20, MaxBytes: 16 << 20}
	cfg.Retry = sink.Retry{MaxAttempts: 1000, MaxAge: time.Hour, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}
	m := start(t, s, dest, cfg, sink.Limits{})
	var pending int
	testutil.Eventually(t, 10*time.Second, func() bool {
		st, err := m.State(ctx, "archive")
		pending = st.Pending
		return err == nil && st.Counts.Failed > 0 && pending > 0
	}, "the sink held no records")
	// A record's body is about 4,200 bytes: a batch is about 4,000
	// records, 8 MiB 2,000 and a page 1,000.
	if pending < 3900 || pending > 7000 {
		t.Fatalf("%d records held of the 10,000 in the log, want a batch and at most 8 MiB and a page more", pending)
	}
}
