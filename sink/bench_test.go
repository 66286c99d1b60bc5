package sink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil/memsink"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sqlite"
)

// benchEvent is a stored event of about 400 bytes, as the ingest
// benchmarks send.
func benchEvent(i int) sluice.Event {
	return sluice.Event{ID: fmt.Sprintf("0193b7c8-4d2e-7c1a-9f3e-%012d", i), Type: "order.placed", Stream: fmt.Sprintf("order-%d", i%100),
		Source: "shop", Position: sluice.Position(i + 1), Version: 1, RecordedAt: time.Now(),
		Data: json.RawMessage(`{"order_id":"o-1234567","customer":{"id":"c-42","email":"someone@example.com"},"total":129.95,"currency":"EUR","items":[{"sku":"A-1","qty":2,"price":39.99},{"sku":"B-7","qty":1,"price":49.97}],"note":"leave at the door"}`)}
}

// BenchmarkTransform is the cost of a typical transform on one event.
func BenchmarkTransform(b *testing.B) {
	tr, err := sink.CompileTransform(`{id, type, total: .data.total, customer: .data.customer.id}`)
	if err != nil {
		b.Fatal(err)
	}
	e := benchEvent(1)
	ctx := context.Background()
	b.SetBytes(int64(e.Size()))
	for b.Loop() {
		if _, _, err := tr.Apply(ctx, &e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRunner is the runner's own throughput from the embedded log to
// a destination that takes everything at once: the ceiling of every sink.
// Each iteration drains a log of 100,000 events with a new sink.
func BenchmarkRunner(b *testing.B) {
	const events = 100_000
	store, err := sqlite.Open(context.Background(), sqlite.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	for i := 0; i < events; i += 500 {
		evs := make([]sluice.Event, 500)
		for j := range evs {
			evs[j] = benchEvent(i + j)
			evs[j].ID, evs[j].Position, evs[j].Version, evs[j].RecordedAt = "", 0, 0, time.Time{}
		}
		if _, err := store.Append(context.Background(), []sluice.AppendRequest{{Events: evs}}); err != nil {
			b.Fatal(err)
		}
	}
	for _, batch := range []int{500, 1000} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			n := 0
			for b.Loop() {
				n++
				name := fmt.Sprintf("bench-%d-%d", batch, n)
				cfg := sink.Config{Name: name, Type: "memory", Batch: sink.Batch{MaxEvents: batch, MaxBytes: 4 << 20}}
				r, err := sink.NewRunner(store, &memsink.Sink{}, cfg, sink.Limits{}, sink.RunnerOptions{Node: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- r.Run(ctx) }()
				for cp := sluice.Position(0); cp < events; {
					if cp, err = store.WaitCheckpoint(context.Background(), sluice.SinkConsumer(name), cp); err != nil {
						b.Fatal(err)
					}
				}
				cancel()
				<-done
			}
			b.ReportMetric(float64(n*events)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
