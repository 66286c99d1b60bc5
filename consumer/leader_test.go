package consumer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
)

// Work under a Leader stops when another holder takes the lease, and runs
// again once that holder lets it go.
func TestLeader(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		const ttl = 300 * time.Millisecond
		var terms, ended atomic.Int32
		l := &consumer.Leader{Leases: s, Name: "job", Holder: "a", TTL: ttl}
		done := make(chan error, 1)
		go func() {
			done <- l.Run(ctx, func(ctx context.Context) error {
				terms.Add(1)
				<-ctx.Done()
				ended.Add(1)
				return ctx.Err()
			})
		}()
		testutil.Eventually(t, 5*time.Second, func() bool { return terms.Load() == 1 }, "the work did not start")
		// Another holder takes the lease (as after a's lease had expired).
		bg := context.Background()
		if err := s.ReleaseLease(bg, "job", "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AcquireLease(bg, "job", "b", time.Minute); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool { return ended.Load() == 1 }, "the work went on after its lease was taken")
		for end := time.Now().Add(2 * ttl); time.Now().Before(end); {
			if terms.Load() != 1 {
				t.Fatal("the work ran again while another holder had the lease")
			}
		}
		if err := s.ReleaseLease(bg, "job", "b"); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool { return terms.Load() == 2 }, "the work did not run again once the lease was free")
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
		// Run released the lease.
		if _, err := s.AcquireLease(bg, "job", "c", time.Minute); err != nil {
			t.Fatalf("the lease was not released: %v", err)
		}
	})
}

// An error of the work other than a lost lease or an unavailable store
// ends Run with it.
func TestLeader_WorkError(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		s := open(t)
		boom := errors.New("boom")
		l := &consumer.Leader{Leases: s, Name: "job", Holder: "a"}
		if err := l.Run(context.Background(), func(context.Context) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("Run returned %v, want the work's error", err)
		}
	})
}
