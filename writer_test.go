package sluice_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
)

// gatedLog is a real store whose commits can be held in flight: the one
// fault that cannot be caused otherwise is "a commit is taking a while".
type gatedLog struct {
	sluice.Log
	mu      sync.Mutex
	calls   [][]sluice.AppendRequest
	gate    chan struct{} // receives once per commit allowed to proceed
	entered chan struct{} // one value each time a commit reaches the gate
	fail    error
}

func (g *gatedLog) Append(ctx context.Context, reqs []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	g.entered <- struct{}{}
	<-g.gate
	g.mu.Lock()
	g.calls = append(g.calls, reqs)
	fail := g.fail
	g.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return g.Log.Append(ctx, reqs)
}

func newGated(t *testing.T) *gatedLog {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &gatedLog{Log: s, gate: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func one(typ string) sluice.AppendRequest {
	return sluice.AppendRequest{Events: []sluice.Event{{Type: typ, Data: []byte(`{}`)}}}
}

func wait(t *testing.T, tk *sluice.Ticket) sluice.AppendResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := tk.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWriter_GroupCommit(t *testing.T) {
	g := newGated(t)
	w := sluice.NewWriter(g, sluice.WriterOptions{})
	defer w.Close(context.Background())

	first, err := w.Submit(one("a"))
	if err != nil {
		t.Fatal(err)
	}
	<-g.entered // the first commit is in flight
	var queued []*sluice.Ticket
	for range 10 {
		tk, err := w.Submit(one("b"))
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, tk)
	}
	if ev, _ := w.Depth(); ev != 11 {
		t.Fatalf("depth %d events, want 11 (1 in flight, 10 queued)", ev)
	}
	g.gate <- struct{}{}
	wait(t, first)
	<-g.entered
	g.gate <- struct{}{}
	for _, tk := range queued {
		wait(t, tk)
	}
	if len(g.calls) != 2 || len(g.calls[1]) != 10 {
		t.Fatalf("%d commits, the second with %d requests; want 2, the second with all 10 queued meanwhile", len(g.calls), len(g.calls[1]))
	}
	if ev, by := w.Depth(); ev != 0 || by != 0 {
		t.Fatalf("depth %d events %d bytes after the commits, want 0", ev, by)
	}
}

func TestWriter_QueueFull(t *testing.T) {
	g := newGated(t)
	w := sluice.NewWriter(g, sluice.WriterOptions{MaxQueueEvents: 3})
	defer func() {
		close(g.gate) // let every commit through
		w.Close(context.Background())
	}()
	if _, err := w.Submit(one("a")); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	for range 2 {
		if _, err := w.Submit(one("b")); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := w.Submit(one("c")); !errors.Is(err, sluice.ErrQueueFull) {
		t.Fatalf("got %v, want ErrQueueFull", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a full queue answered after %s; it must answer at once", d)
	}
}

func TestWriter_QueueDelay(t *testing.T) {
	g := newGated(t)
	const target = 20 * time.Millisecond
	w := sluice.NewWriter(g, sluice.WriterOptions{MaxQueueDelay: target})
	defer w.Close(context.Background())
	if _, err := w.Submit(one("a")); err != nil {
		t.Fatal(err)
	}
	<-g.entered // a's commit holds the writer: what comes next queues
	queued := time.Now()
	head, err := w.Submit(one("b"))
	if err != nil {
		t.Fatal(err)
	}
	// Requests are taken until the head has waited the target, then
	// refused at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := w.Submit(one("c"))
		if errors.Is(err, sluice.ErrQueueDelay) {
			break
		}
		if err != nil {
			t.Fatalf("got %v, want nil or ErrQueueDelay", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue's head waited 10s and Submit still takes requests")
		}
	}
	if waited := time.Since(queued); waited < target {
		t.Fatalf("refused after the head waited %s, under the target %s", waited, target)
	}
	close(g.gate) // the commits go through; the queue drains
	if _, err := head.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The loop may have queued more than one commit takes: wait until the
	// writer has committed them all.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if events, _ := w.Depth(); events == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the queue did not drain in 10s")
		}
		runtime.Gosched()
	}
	if _, err := w.Append(context.Background(), one("d")); err != nil {
		t.Fatalf("once the queue drained: %v", err)
	}
}

func TestWriter_OversizedRequestFitsAnEmptyQueue(t *testing.T) {
	g := newGated(t)
	close(g.gate)
	w := sluice.NewWriter(g, sluice.WriterOptions{MaxQueueEvents: 2})
	defer w.Close(context.Background())
	req := sluice.AppendRequest{Events: make([]sluice.Event, 5)}
	for i := range req.Events {
		req.Events[i] = sluice.Event{Type: "t", Data: []byte(`1`)}
	}
	if _, err := w.Append(context.Background(), req); err != nil {
		t.Fatalf("a request larger than the queue, alone: %v", err)
	}
}

func TestWriter_CloseCommitsQueue(t *testing.T) {
	g := newGated(t)
	w := sluice.NewWriter(g, sluice.WriterOptions{})
	var tickets []*sluice.Ticket
	for range 5 {
		tk, err := w.Submit(one("a"))
		if err != nil {
			t.Fatal(err)
		}
		tickets = append(tickets, tk)
	}
	closed := make(chan error, 1)
	go func() { closed <- w.Close(context.Background()) }()
	close(g.gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for _, tk := range tickets {
		select {
		case <-tk.Done():
		default:
			t.Fatal("Close returned before a queued request was committed")
		}
		if res := wait(t, tk); res.Position() == 0 {
			t.Fatal("a queued request was not stored")
		}
	}
	if h, _ := g.Head(context.Background()); h != 5 {
		t.Fatalf("head %d, want 5", h)
	}
	if _, err := w.Submit(one("late")); !errors.Is(err, sluice.ErrClosed) {
		t.Fatalf("submit after close: %v, want ErrClosed", err)
	}
}

func TestWriter_Errors(t *testing.T) {
	g := newGated(t)
	close(g.gate)
	w := sluice.NewWriter(g, sluice.WriterOptions{})
	defer w.Close(context.Background())

	var ee *sluice.EventError
	if _, err := w.Submit(sluice.AppendRequest{Events: []sluice.Event{{Type: "bad type", Data: []byte(`1`)}}}); !errors.As(err, &ee) {
		t.Fatalf("invalid event: %v, want an *EventError at Submit", err)
	}
	g.mu.Lock()
	g.fail = sluice.ErrUnavailable
	g.mu.Unlock()
	if _, err := w.Append(context.Background(), one("a")); !errors.Is(err, sluice.ErrUnavailable) {
		t.Fatalf("store failure: %v, want it passed to the caller", err)
	}
	g.mu.Lock()
	g.fail = nil
	g.mu.Unlock()
	if _, err := w.Append(context.Background(), sluice.AppendRequest{Stream: "s", Expected: sluice.StreamExists, Events: one("a").Events}); !errors.Is(err, sluice.ErrWrongExpectedVersion) {
		t.Fatalf("request failure: %v, want ErrWrongExpectedVersion", err)
	}
}
