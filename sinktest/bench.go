package sinktest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sqlite"
)

// Drain benchmarks a sink's sustained delivery from the embedded log: the
// log holds n events of about 400 bytes (in commits of 500, over 100
// streams), and each iteration delivers all of them with a sink of a new
// name, through the real runner, in batches as given (zero fields: the
// destination's defaults). It reports events/s, and the CPU seconds this
// process spent per million events (the runner's and the sink's; a
// destination in another process is not counted).
func Drain(b *testing.B, dest sink.Destination, n int, batch sink.Batch) {
	b.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	for evs := range slices.Chunk(BenchEvents(n), 500) {
		if _, err := store.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
			b.Fatal(err)
		}
	}
	head, _ := store.Head(ctx)
	s, err := dest.Open(ctx, sink.Env{Name: "bench", Node: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	cpu0 := CPUTime()
	iterations := 0
	for b.Loop() {
		iterations++
		cfg := sink.Config{Name: fmt.Sprintf("bench-%d", iterations), Type: "bench", Batch: batch}
		r, err := sink.NewRunner(store, s, cfg, dest.Limits(), sink.RunnerOptions{Node: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx) }()
		for cp := sluice.Position(0); cp < head; {
			if cp, err = store.WaitCheckpoint(ctx, sluice.SinkConsumer(cfg.Name), cp); err != nil {
				b.Fatal(err)
			}
		}
		cancel()
		<-done
		if st := r.Stats(); st.Counts.DeadLettered > 0 || st.Counts.Failed > 0 {
			b.Fatalf("the destination failed %d deliveries, dead-lettered %d", st.Counts.Failed, st.Counts.DeadLettered)
		}
	}
	total := float64(iterations * n)
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric((CPUTime()-cpu0).Seconds()/total*1e6, "cpu-s/Mevents")
}

// BenchEvents are the events Drain's log holds, as they are appended
// (without ids, positions, versions and times): about 400 bytes each once
// stored, over 100 streams in turn. Baselines of a destination's client
// alone send the same.
func BenchEvents(n int) []sluice.Event {
	data := json.RawMessage(`{"order_id":"o-1234567","customer":{"id":"c-42","email":"someone@example.com"},"total":129.95,"currency":"EUR","items":[{"sku":"A-1","qty":2,"price":39.99},{"sku":"B-7","qty":1,"price":49.97}],"note":"leave at the door"}`)
	evs := make([]sluice.Event, n)
	for i := range evs {
		evs[i] = sluice.Event{Type: "order.placed", Stream: fmt.Sprintf("order-%d", i%100), Source: "shop", Data: data}
	}
	return evs
}

// CPUTime is the CPU time this process has used (user and system), for
// benchmarks that report CPU per event beside Drain's.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
