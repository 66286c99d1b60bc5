package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
)

// testConcurrentExpectedVersion: 16 goroutines append to one stream with
// the same exact expected version, round after round. Exactly one wins each
// round; the others get ErrWrongExpectedVersion.
func testConcurrentExpectedVersion(t *testing.T, open Opener, f Features) {
	stores := []sluice.Store{open(t)}
	if f.SharedAccess {
		stores = append(stores, open(t))
	}
	const goroutines, rounds = 16, 20
	for round := range uint64(rounds) {
		start := make(chan struct{})
		errs := make(chan error, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := stores[g%len(stores)].Append(ctxFor(t), []sluice.AppendRequest{{
					Stream: "race-1", Expected: sluice.ExactVersion(round), Events: []sluice.Event{event("bid", "", g)},
				}})
				if err == nil {
					err = res[0].Err
				}
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		winners := 0
		for err := range errs {
			switch {
			case err == nil:
				winners++
			case errors.Is(err, sluice.ErrWrongExpectedVersion):
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d winners, want exactly 1", round, winners)
		}
	}
	if got := versions(readStream(t, stores[0], "race-1", sluice.ReadStreamOptions{Backward: true, Limit: 1})); !equal(got, []uint64{rounds}) {
		t.Fatalf("final version %v, want %d", got, rounds)
	}
}

// testFollowWhileWriting: 8 writers append while 4 readers follow the log.
// Every reader must see every position exactly once, in order, with no gap
// (a gap would be a position that fills in later). With shared access the
// writers and readers use two Stores, as two processes would.
func testFollowWhileWriting(t *testing.T, open Opener, f Features) {
	stores := []sluice.Store{open(t)}
	if f.SharedAccess {
		stores = append(stores, open(t))
	}
	const writers, readers, batches, perBatch = 8, 4, 25, 4
	const total = writers * batches * perBatch
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			for b := range batches {
				evs := events("tick", fmt.Sprintf("writer-%d", w), perBatch)
				if b%2 == 1 { // half the appends are stream appends with versions
					if _, err := s.Append(ctx, []sluice.AppendRequest{{Stream: fmt.Sprintf("writer-%d", w), Expected: sluice.ExactVersion(uint64(b * perBatch)), Events: evs}}); err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					continue
				}
				if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[r%len(stores)]
			var last sluice.Position
			for last < total {
				page, err := s.ReadLog(ctx, last, sluice.Filter{}, 50)
				if err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
				for _, e := range page {
					if e.Position != last+1 {
						t.Errorf("reader %d: position %d after %d: a gap or a repeat", r, e.Position, last)
						return
					}
					last = e.Position
				}
				if len(page) == 0 {
					if _, err := s.WaitHead(ctx, last); err != nil {
						t.Errorf("reader %d: wait at %d: %v", r, last, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for w := range writers {
		evs := readStream(t, stores[0], fmt.Sprintf("writer-%d", w), sluice.ReadStreamOptions{Limit: 1000})
		if len(evs) != batches*perBatch || evs[len(evs)-1].Version != batches*perBatch {
			t.Fatalf("writer-%d holds %d events, want %d with versions 1..%[3]d", w, len(evs), batches*perBatch)
		}
	}
}

// testGroupCommitWriter: many callers append single events through one
// Writer; every one is stored once, at its own position.
func testGroupCommitWriter(t *testing.T, open Opener, _ Features) {
	s := open(t)
	w := sluice.NewWriter(s, sluice.WriterOptions{})
	const callers = 64
	seen := make(chan sluice.Position, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := w.Append(ctxFor(t), sluice.AppendRequest{Events: []sluice.Event{event("click", "", c)}})
			if err != nil {
				t.Errorf("caller %d: %v", c, err)
				return
			}
			seen <- res.Position()
		}()
	}
	wg.Wait()
	close(seen)
	unique := map[sluice.Position]bool{}
	for p := range seen {
		unique[p] = true
	}
	if len(unique) != callers || head(t, s) != callers {
		t.Fatalf("%d distinct positions, head %d; want %d of each", len(unique), head(t, s), callers)
	}
	if err := w.Close(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
}

func testReopen(t *testing.T, open Opener, _ Features) {
	s := open(t)
	first := appendOK(t, s,
		sluice.AppendRequest{Stream: "doc-1", Events: events("edited", "", 3)},
		sluice.AppendRequest{Events: events("viewed", "", 2)},
	)
	if err := s.SetCheckpoint(ctxFor(t), "proj", 0, 4); err != nil {
		t.Fatal(err)
	}
	before := readAll(t, s, sluice.Filter{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t)
	after := readAll(t, s, sluice.Filter{})
	if len(after) != len(before) {
		t.Fatalf("reopened log holds %d events, want %d", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.ID != b.ID || a.Position != b.Position || a.Version != b.Version || string(a.Data) != string(b.Data) || !a.RecordedAt.Equal(b.RecordedAt) {
			t.Fatalf("event %d changed across reopen: %+v, was %+v", i, a, b)
		}
	}
	if p, err := s.Checkpoint(ctxFor(t), "proj"); err != nil || p != 4 {
		t.Fatalf("checkpoint %d (%v), want 4", p, err)
	}
	res := appendOK(t, s, sluice.AppendRequest{Stream: "doc-1", Expected: sluice.ExactVersion(3), Events: events("edited", "", 1)})
	if a := res[0].Events[0]; a.Position != 6 || a.Version != 4 {
		t.Fatalf("append after reopen: %+v, want position 6 version 4", a)
	}
	dup := appendOK(t, s, sluice.AppendRequest{Events: []sluice.Event{{ID: first[1].Events[0].ID, Type: "viewed", Data: []byte(`0`)}}})
	if !dup[0].Events[0].Duplicate {
		t.Fatal("an id stored before the reopen is not known after it")
	}
}

func testClosed(t *testing.T, open Opener, _ Features) {
	s := open(t)
	// A WaitHead blocked at Close returns ErrClosed (a long poll or a live
	// tail must not outlive its store).
	waiting := make(chan error, 1)
	go func() {
		_, err := s.WaitHead(ctxFor(t), 1<<40)
		waiting <- err
	}()
	testutil.Eventually(t, 10*time.Second, func() bool {
		return bytes.Contains(allStacks(), []byte("HeadNotifier).Wait("))
	}, "WaitHead never blocked")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, sluice.ErrClosed) {
			t.Fatalf("WaitHead at close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitHead still blocked 10s after Close")
	}
	if _, err := s.Append(ctxFor(t), []sluice.AppendRequest{{Events: events("e", "", 1)}}); !errors.Is(err, sluice.ErrClosed) {
		t.Fatalf("append after close: %v, want ErrClosed", err)
	}
	if _, err := s.ReadLog(ctxFor(t), 0, sluice.Filter{}, 1); !errors.Is(err, sluice.ErrClosed) {
		t.Fatalf("read after close: %v, want ErrClosed", err)
	}
	ctx := ctxFor(t)
	for name, err := range map[string]error{
		"Checkpoint":         second(s.Checkpoint(ctx, "proj")),
		"SetCheckpoint":      s.SetCheckpoint(ctx, "proj", 0, 1),
		"WaitCheckpoint":     second(s.WaitCheckpoint(ctx, "proj", 0)),
		"PutSubscription":    third(s.PutSubscription(ctx, sluice.Subscription{Name: "orders"})),
		"Subscription":       second(s.Subscription(ctx, "orders")),
		"ListSubscriptions":  second(s.ListSubscriptions(ctx, "", 1)),
		"DeleteSubscription": s.DeleteSubscription(ctx, "orders"),
	} {
		if !errors.Is(err, sluice.ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", name, err)
		}
	}
}

// second and third return the error of a call's results.
func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

// allStacks is every goroutine's stack. A buffer of fixed size would cut
// them off in a busy process (a test binary running three JetStream
// servers has thousands of goroutines), hiding the one looked for.
func allStacks() []byte {
	for n := 1 << 20; ; n *= 2 {
		buf := make([]byte, n)
		if m := runtime.Stack(buf, true); m < n {
			return buf[:m]
		}
	}
}
