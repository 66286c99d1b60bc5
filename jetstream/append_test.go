package jetstream_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/testutil/natstest"
	"github.com/sluicehq/sluice/jetstream"
)

// TestPipelinedAppends: two Stores on one log, as two processes, append
// group commits of several atomic batches each, so that batches go out
// with others in flight; half of the streams are written by both, so that
// batches conflict and are planned again. Whatever the interleaving, the
// log must hold every acknowledged event once, where its answer said, and
// every stream's versions must run 1, 2, 3, … in log order with its
// backward links intact.
func TestPipelinedAppends(t *testing.T) {
	t.Run("Single", func(t *testing.T) {
		testPipelinedAppends(t, natstest.Single(t).URLs(), 1)
	})
	t.Run("ClusterR3", func(t *testing.T) {
		if testing.Short() {
			t.Skip("a 3-node cluster")
		}
		testPipelinedAppends(t, natstest.Start(t, 3).URLs(), 3)
	})
}

func testPipelinedAppends(t *testing.T, url string, replicas int) {
	ctx := context.Background()
	name := fmt.Sprintf("t%d", logs.Add(1))
	stores := make([]*jetstream.Store, 2)
	for i := range stores {
		s, err := jetstream.Open(ctx, jetstream.Options{URL: url, Name: name, Replicas: replicas, PublishWindow: 3})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	const writers, rounds, requests, perRequest = 4, 2, 5, 300 // 1,500 events a call: two batches
	type acked struct {
		position sluice.Position
		version  uint64
	}
	var mu sync.Mutex
	acks := map[string]acked{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				reqs := make([]sluice.AppendRequest, requests)
				for q := range reqs {
					stream := fmt.Sprintf("own-%d-%d", w, q) // this writer's alone
					if q%2 == 1 {
						stream = fmt.Sprintf("both-%d", q) // every writer's
					}
					evs := make([]sluice.Event, perRequest)
					for i := range evs {
						evs[i] = sluice.Event{ID: fmt.Sprintf("w%d-r%d-q%d-%d", w, r, q, i), Type: "t", Stream: stream, Data: []byte(`{}`)}
					}
					reqs[q] = sluice.AppendRequest{Events: evs}
				}
				res, err := stores[w%len(stores)].Append(ctx, reqs)
				if err != nil {
					t.Errorf("writer %d round %d: %v", w, r, err)
					return
				}
				mu.Lock()
				for _, rr := range res {
					if rr.Err != nil {
						t.Errorf("writer %d round %d: %v", w, r, rr.Err)
					}
					for _, a := range rr.Events {
						acks[a.ID] = acked{a.Position, a.Version}
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if want := writers * rounds * requests * perRequest; len(acks) != want {
		t.Fatalf("%d events acknowledged, want %d", len(acks), want)
	}

	var all []sluice.Event
	for after := sluice.Position(0); ; {
		page, err := stores[0].ReadLog(ctx, after, sluice.Filter{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Position
	}
	if len(all) != len(acks) {
		t.Fatalf("the log holds %d events, %d were acknowledged", len(all), len(acks))
	}
	version := map[string]uint64{}
	byStream := map[string][]sluice.Position{}
	for i, e := range all {
		if e.Position != sluice.Position(i+1) {
			t.Fatalf("event %d at position %d", i+1, e.Position)
		}
		if a := acks[e.ID]; a.position != e.Position || a.version != e.Version {
			t.Fatalf("%s at %d version %d, acknowledged at %d version %d", e.ID, e.Position, e.Version, a.position, a.version)
		}
		version[e.Stream]++
		if e.Version != version[e.Stream] {
			t.Fatalf("%s: stream %s's event %d has version %d", e.ID, e.Stream, version[e.Stream], e.Version)
		}
		byStream[e.Stream] = append(byStream[e.Stream], e.Position)
	}
	for stream, want := range byStream {
		back, err := stores[1].ReadStream(ctx, stream, sluice.ReadStreamOptions{Backward: true, Limit: len(want)})
		if err != nil {
			t.Fatal(err)
		}
		if len(back) != len(want) {
			t.Fatalf("stream %s read backward: %d events, want %d", stream, len(back), len(want))
		}
		for i, e := range back {
			if p := want[len(want)-1-i]; e.Position != p {
				t.Fatalf("stream %s read backward: %d-th at %d, want %d", stream, i, e.Position, p)
			}
		}
	}
}

// TestDuplicateWindow: what dedupe covers past JetStream's duplicate
// window (docs/operations.md, D106). A stream request sent again is
// answered from the id index, whenever it comes; an ingest event sent
// again past the window is stored again.
func TestDuplicateWindow(t *testing.T) {
	ctx := context.Background()
	s, err := jetstream.Open(ctx, jetstream.Options{URL: natstest.Single(t).URLs(), Name: fmt.Sprintf("t%d", logs.Add(1)), DuplicateWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ingest := func(id string) sluice.Appended {
		t.Helper()
		res, err := s.Append(ctx, []sluice.AppendRequest{{Events: []sluice.Event{{ID: id, Type: "t", Stream: "s", Data: []byte(`{}`)}}}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Events[0]
	}
	order := sluice.AppendRequest{Stream: "order-1", Expected: sluice.NoStream,
		Events: []sluice.Event{{ID: "order-placed", Type: "t", Data: []byte(`{}`)}}}
	res, err := s.Append(ctx, []sluice.AppendRequest{order})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	placed := res[0].Events[0]
	first := ingest("page-view")
	if again := ingest("page-view"); !again.Duplicate || again.Position != first.Position {
		t.Fatalf("within the window: %+v, want a duplicate of %+v", again, first)
	}

	// The window has passed once a probe sent after both is stored again.
	ingest("probe")
	testutil.Eventually(t, 30*time.Second, func() bool { return !ingest("probe").Duplicate }, "JetStream forgets the probe's id")

	if again := ingest("page-view"); again.Duplicate || again.Position <= first.Position {
		t.Fatalf("past the window: %+v, want the ingest event stored again", again)
	}
	res, err = s.Append(ctx, []sluice.AppendRequest{order})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if a := res[0].Events[0]; !a.Duplicate || a.Position != placed.Position || a.Version != 1 {
		t.Fatalf("the stream request sent again past the window: %+v, want a duplicate of %+v", a, placed)
	}
}
