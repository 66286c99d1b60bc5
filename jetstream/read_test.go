package jetstream

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil/natstest"
)

// TestScanLostDeliveries: messages that the server sends a scan's consumer
// but that never reach the scan (a no-wait fetch that gave up on the client
// first) must not leave a hole in the scan. Another fetcher on the scan's
// own consumer takes them away, which the server counts as delivered just
// the same; the scan must still see every message once, in order.
func TestScanLostDeliveries(t *testing.T) {
	c := natstest.Single(t)
	ctx := context.Background()
	s, err := Open(ctx, Options{URL: c.URLs(), Name: "lost", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const total = 2 * fetchSize
	evs := make([]sluice.Event, total)
	for i := range evs {
		evs[i] = sluice.Event{ID: fmt.Sprintf("e%d", i), Type: "tick", Data: []byte(`{}`)}
	}
	if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: evs[:total/2]}, {Events: evs[total/2:]}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		steal int // messages taken from the consumer after the first one
	}{
		{"a hole inside the log", 3},          // the next fetch starts after a jump
		{"the log's tail", total - fetchSize}, // the next fetch finds nothing
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			stolen := false
			err := scanStream(ctx, s.log, 0, "", func(m jetstream.Msg) (bool, error) {
				meta, err := m.Metadata()
				if err != nil {
					return false, err
				}
				got = append(got, meta.Sequence.Stream)
				if !stolen {
					stolen = true
					steal(t, s, meta.Consumer, tc.steal)
				}
				return true, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != total {
				t.Fatalf("the scan saw %d messages, want %d", len(got), total)
			}
			for i, seq := range got {
				if seq != uint64(i+1) {
					t.Fatalf("message %d of the scan is at sequence %d", i, seq)
				}
			}
		})
	}
}

// steal fetches n messages from the log's consumer named consumer, as a
// second reader of the same consumer would.
func steal(t *testing.T, s *Store, consumer string, n int) {
	t.Helper()
	c, err := s.js.Consumer(context.Background(), s.log.CachedInfo().Config.Name, consumer)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := c.FetchNoWait(n)
	if err != nil {
		t.Fatal(err)
	}
	taken := 0
	for range batch.Messages() {
		taken++
	}
	if taken != n {
		t.Fatalf("took %d messages from the scan's consumer, want %d (%v)", taken, n, batch.Error())
	}
}
