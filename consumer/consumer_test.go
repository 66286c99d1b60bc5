package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
)

// appendN appends n events of type typ and returns the last position.
func appendN(t *testing.T, s sluice.Log, typ string, n int) sluice.Position {
	t.Helper()
	evs := make([]sluice.Event, n)
	for i := range evs {
		evs[i] = sluice.Event{Type: typ, Data: []byte(fmt.Sprint(i))}
	}
	res, err := s.Append(context.Background(), []sluice.AppendRequest{{Events: evs}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Position()
}

func TestCursor(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		ctx := context.Background()
		appendN(t, s, "a", 150)
		head := appendN(t, s, "b", 100)
		cur := consumer.NewCursor(s, 0, sluice.Filter{Types: []string{"a"}}, 100)
		evs, err := cur.Read(ctx)
		if err != nil || len(evs) != 100 || cur.Position() != 100 {
			t.Fatalf("first page: %d events, position %d (%v)", len(evs), cur.Position(), err)
		}
		evs, err = cur.Read(ctx)
		if err != nil || len(evs) != 50 || cur.Position() != head {
			t.Fatalf("last page: %d events, position %d, want 50 and the head %d, skipped events counted (%v)", len(evs), cur.Position(), head, err)
		}
		// Caught up: Next waits for a commit.
		wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		evs, err = cur.Next(wctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || len(evs) != 0 {
			t.Fatalf("nothing to read: %d events, %v", len(evs), err)
		}
		got := make(chan []sluice.Event, 1)
		go func() {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			evs, _ := cur.Next(ctx)
			got <- evs
		}()
		appendN(t, s, "b", 3) // skipped; Next goes on waiting
		p := appendN(t, s, "a", 1)
		if evs := <-got; len(evs) != 1 || evs[0].Position != p {
			t.Fatalf("live: %+v, want the event at %d", evs, p)
		}
	})
}

// recorder is a Handler that records what it handled.
type recorder struct {
	mu   sync.Mutex
	seen []sluice.Position
}

func (r *recorder) handle(_ context.Context, evs []sluice.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range evs {
		r.seen = append(r.seen, e.Position)
	}
	return nil
}

func (r *recorder) positions() []sluice.Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sluice.Position(nil), r.seen...)
}

// run starts c and returns the function that stops it and returns Run's
// error.
func run(t *testing.T, c *consumer.Consumer) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return func() error {
		cancel()
		select {
		case err := <-done:
			done <- err // for the cleanup
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("consumer did not stop")
			return nil
		}
	}
}

func TestConsumer(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		ctx := context.Background()
		appendN(t, s, "skip", 10)
		appendN(t, s, "keep", 250)
		var r recorder
		c := &consumer.Consumer{Store: s, Name: "proj", Holder: "p1", Filter: sluice.Filter{Types: []string{"keep"}}, Handle: r.handle, Batch: 64}
		stop := run(t, c)
		head := appendN(t, s, "keep", 5) // live, after the catch-up
		testutil.Eventually(t, 10*time.Second, func() bool { return len(r.positions()) == 255 }, "the consumer did not handle every event")
		testutil.Eventually(t, 10*time.Second, func() bool {
			cp, err := s.Checkpoint(ctx, "proj")
			return err == nil && cp == head
		}, "the checkpoint did not reach the head")
		for i, p := range r.positions() {
			if p != sluice.Position(11+i) {
				t.Fatalf("event %d at position %d, want %d: in order, once, skipped events left out", i, p, 11+i)
			}
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
		// It released its lease: another holder takes it at once.
		if _, err := s.AcquireLease(ctx, "proj", "p2", time.Minute); err != nil {
			t.Fatalf("lease not released: %v", err)
		}
	})
}

// A batch handled while the consumer is told to stop is checkpointed.
func TestConsumer_CheckpointAtShutdown(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		head := appendN(t, s, "e", 5)
		ctx, stop := context.WithCancel(context.Background())
		c := &consumer.Consumer{Store: s, Name: "proj", Holder: "p1", Handle: func(context.Context, []sluice.Event) error {
			stop() // shutdown arrives while the batch is handled
			return nil
		}}
		if err := c.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
		if cp, err := s.Checkpoint(context.Background(), "proj"); err != nil || cp != head {
			t.Fatalf("checkpoint %d (%v), want %d: the handled batch must be checkpointed", cp, err, head)
		}
	})
}

func TestConsumer_HandlerError(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		appendN(t, s, "e", 30)
		boom := errors.New("boom")
		calls := 0
		c := &consumer.Consumer{Store: s, Name: "proj", Holder: "p1", Batch: 10, Handle: func(context.Context, []sluice.Event) error {
			if calls++; calls == 2 {
				return boom
			}
			return nil
		}}
		if err := c.Run(context.Background()); !errors.Is(err, boom) {
			t.Fatalf("Run returned %v, want the handler's error", err)
		}
		if cp, _ := s.Checkpoint(context.Background(), "proj"); cp != 10 {
			t.Fatalf("checkpoint %d, want 10: the failed batch is not checkpointed", cp)
		}
		var r recorder
		c.Handle, c.Holder = r.handle, "p2" // the lease was released: p2 starts at once
		stop := run(t, c)
		testutil.Eventually(t, 10*time.Second, func() bool { return len(r.positions()) == 20 }, "the failed batch was not handled again")
		if r.positions()[0] != 11 {
			t.Fatalf("resumed at %d, want 11", r.positions()[0])
		}
		stop()
	})
}

// A consumer whose handler hangs past MaxHandle loses its lease to a
// standby, which resumes from the checkpoint; the hung one cannot move the
// checkpoint back when it wakes.
func TestConsumer_Failover(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		ctx := context.Background()
		appendN(t, s, "e", 25)
		hang, wake := make(chan struct{}), make(chan struct{})
		var a, b recorder
		calls := 0
		active := &consumer.Consumer{Store: s, Name: "proj", Holder: "a", Batch: 10, LeaseTTL: 300 * time.Millisecond, MaxHandle: 300 * time.Millisecond,
			Handle: func(ctx context.Context, evs []sluice.Event) error {
				if calls++; calls == 2 {
					close(hang)
					<-wake // hung with its second batch, unacknowledged
				}
				return a.handle(ctx, evs)
			}}
		stopA := run(t, active)
		<-hang
		standby := &consumer.Consumer{Store: s, Name: "proj", Holder: "b", Batch: 10, LeaseTTL: 300 * time.Millisecond, Handle: b.handle}
		stopB := run(t, standby)
		testutil.Eventually(t, 10*time.Second, func() bool { return len(b.positions()) == 15 }, "the standby did not take over")
		if b.positions()[0] != 11 {
			t.Fatalf("the standby resumed at %d, want 11 (after the checkpoint)", b.positions()[0])
		}
		close(wake)
		head := appendN(t, s, "e", 5)
		testutil.Eventually(t, 10*time.Second, func() bool {
			cp, _ := s.Checkpoint(ctx, "proj")
			return cp == head
		}, "the checkpoint did not reach the head")
		stopB()
		stopA()
		checkHandled(t, head, 10, &a, &b)
	})
}

// On PostgreSQL two processes share the store: when the one running the
// consumer dies (its connections gone, the lease left to expire), the
// other takes over from the checkpoint.
func TestConsumer_FailoverProcesses(t *testing.T) {
	url, schema := testutil.PostgresSchema(t)
	s1, s2 := backends.Postgres(t, url, schema), backends.Postgres(t, url, schema)
	ctx := context.Background()
	appendN(t, s1, "e", 40)
	var a, b recorder
	gotFirst := make(chan struct{})
	var once sync.Once
	first := &consumer.Consumer{Store: s1, Name: "proj", Holder: "node1", Batch: 10, LeaseTTL: 500 * time.Millisecond,
		Handle: func(ctx context.Context, evs []sluice.Event) error {
			once.Do(func() { close(gotFirst) })
			return a.handle(ctx, evs)
		}}
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Run(ctx) }()
	<-gotFirst
	second := &consumer.Consumer{Store: s2, Name: "proj", Holder: "node2", Batch: 10, LeaseTTL: 500 * time.Millisecond, Handle: b.handle}
	stop := run(t, second)
	s1.Close() // node1 dies: no release, the lease expires
	if err := <-firstDone; !errors.Is(err, sluice.ErrClosed) {
		t.Fatalf("node1's consumer ended with %v", err)
	}
	head := appendN(t, s2, "e", 10)
	testutil.Eventually(t, 10*time.Second, func() bool {
		cp, _ := s2.Checkpoint(ctx, "proj")
		return cp == head
	}, "node2 did not take over")
	stop()
	checkHandled(t, head, 10, &a, &b)
}

// checkHandled fails the test unless the recorders together handled every
// position up to head, with at most one unacknowledged batch handled twice.
func checkHandled(t *testing.T, head sluice.Position, batch int, rs ...*recorder) {
	t.Helper()
	seen := map[sluice.Position]int{}
	for _, r := range rs {
		for _, p := range r.positions() {
			seen[p]++
		}
	}
	dups := 0
	for p := sluice.Position(1); p <= head; p++ {
		if seen[p] == 0 {
			t.Fatalf("position %d never handled", p)
		}
		dups += seen[p] - 1
	}
	if dups > batch {
		t.Fatalf("%d duplicates, more than the one unacknowledged batch of %d", dups, batch)
	}
}

// A handler slower than the lease's TTL keeps the lease: no standby takes
// over while it runs, and its batch is checkpointed after.
func TestConsumer_SlowHandlerKeepsLease(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		ctx := context.Background()
		head := appendN(t, s, "e", 3)
		const ttl = 300 * time.Millisecond
		inHandler, release := make(chan struct{}), make(chan struct{})
		slow := &consumer.Consumer{Store: s, Name: "proj", Holder: "slow", LeaseTTL: ttl, Handle: func(context.Context, []sluice.Event) error {
			close(inHandler)
			<-release
			return nil
		}}
		stop := run(t, slow)
		<-inHandler
		// For three TTLs, another holder never gets the lease.
		for end := time.Now().Add(3 * ttl); time.Now().Before(end); {
			if _, err := s.AcquireLease(ctx, "proj", "standby", ttl); !errors.Is(err, sluice.ErrLeaseHeld) {
				t.Fatalf("a standby acquired the lease of a running handler: %v", err)
			}
		}
		close(release)
		testutil.Eventually(t, 10*time.Second, func() bool {
			cp, _ := s.Checkpoint(ctx, "proj")
			return cp == head
		}, "the slow batch was not checkpointed")
		stop()
	})
}
