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
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sqlite"
)

// TestRetention_Run: the loop removes nothing while the archive sink is
// behind, says who holds it back, and removes whole segments once it has
// caught up.
func TestRetention_Run(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	s, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir(), SegmentSize: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for n := range 10 {
		evs := make([]sluice.Event, 100)
		for i := range evs {
			evs[i] = sluice.Event{ID: fmt.Sprintf("e-%d-%d", n, i), Type: "t", Data: []byte(`{}`)}
		}
		if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
			t.Fatal(err)
		}
	}
	archive := sluice.SinkConsumer("archive")
	var mu sync.Mutex
	var passes []sluice.RetentionPass
	r := &consumer.Retention{Store: s, Every: 10 * time.Millisecond, Holder: "node-1",
		Policy: sluice.RetentionPolicy{MaxAge: time.Nanosecond, Archives: []string{archive}},
		Passed: func(p sluice.RetentionPass, err error) {
			if err != nil {
				t.Errorf("pass: %v", err)
			}
			mu.Lock()
			passes = append(passes, p)
			mu.Unlock()
		}}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	last := func() sluice.RetentionPass {
		mu.Lock()
		defer mu.Unlock()
		if len(passes) == 0 {
			return sluice.RetentionPass{}
		}
		return passes[len(passes)-1]
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return last().HeldBy == archive }, "a pass held back by the archive")
	if p := last(); p.First != 1 {
		t.Fatalf("with the archive at 0: %+v", p)
	}
	if err := s.SetCheckpoint(ctx, archive, 0, 1000); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return last().First > 500 }, "segments removed once the archive caught up")
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run: %v", err)
	}
}
