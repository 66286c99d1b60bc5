package sqlite_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
)

// BenchmarkStore_TrimUnderIngest fills a store with SLUICE_BENCH_TRIM_EVENTS
// events (default 1,000,000) of about 150 bytes in segments of 64 MiB, then
// appends commits of 100 events one after another, first for 3 s alone
// (the baseline), then while Trim removes every segment but the last. It
// reports the longest commit of each phase: the longest pause ingest saw.
// Run once per call:
//
//	SLUICE_BENCH_TRIM_EVENTS=10000000 go test -run '^$' -bench Store_TrimUnderIngest -benchtime 1x ./sqlite/
func BenchmarkStore_TrimUnderIngest(b *testing.B) {
	total := 1_000_000
	if v := os.Getenv("SLUICE_BENCH_TRIM_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		total = n
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Options{Dir: b.TempDir(), SegmentSize: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	i := 0
	fill := time.Now()
	for i < total {
		evs := make([]sluice.Event, min(5000, total-i))
		for j := range evs {
			evs[j] = smallEvent(i)
			i++
		}
		if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("filled %d events in %s", total, time.Since(fill).Round(time.Millisecond))

	// ingest appends commits of 100 until stop, and returns how long each
	// took, sorted.
	ingest := func(stop <-chan struct{}) []time.Duration {
		var took []time.Duration
		for {
			select {
			case <-stop:
				slices.Sort(took)
				return took
			default:
			}
			evs := make([]sluice.Event, 100)
			for j := range evs {
				evs[j] = smallEvent(i + j)
			}
			start := time.Now()
			if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
				b.Error(err)
				return []time.Duration{0}
			}
			took = append(took, time.Since(start))
		}
	}
	phase := func(work func()) []time.Duration {
		stop := make(chan struct{})
		var took []time.Duration
		var wg sync.WaitGroup
		wg.Go(func() { took = ingest(stop) })
		work()
		close(stop)
		wg.Wait()
		return took
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for b.Loop() {
		base := phase(func() { time.Sleep(3 * time.Second) }) // a fixed window, not a wait for something
		head, _ := s.Head(ctx)
		var took time.Duration
		var first sluice.Position
		trim := phase(func() {
			start := time.Now()
			if first, err = s.Trim(ctx, head); err != nil {
				b.Error(err)
			}
			took = time.Since(start)
		})
		b.ReportMetric(float64(first-1), "trimmed-events")
		b.ReportMetric(took.Seconds(), "trim-s")
		b.ReportMetric(ms(base[len(base)-1]), "base-max-ms")
		b.ReportMetric(ms(base[len(base)*99/100]), "base-p99-ms")
		b.ReportMetric(ms(trim[len(trim)-1]), "trim-max-ms")
		b.ReportMetric(ms(trim[len(trim)*99/100]), "trim-p99-ms")
		b.ReportMetric(float64(len(base))/3, "base-commits/s")
		b.ReportMetric(float64(len(trim))/took.Seconds(), "trim-commits/s")
	}
}
