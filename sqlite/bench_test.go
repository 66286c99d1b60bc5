package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
	"github.com/sluicehq/sluice/storetest"
)

// Run the store's benchmarks and the disk's baselines in one go:
//
//	go test -run '^$' -bench . ./sqlite/
func BenchmarkStore(b *testing.B) { storetest.Benchmark(b, newLog) }

// BenchmarkDiskBaseline is what the disk allows for the same bytes:
// appending the data of 500 events (Write500) or of one (Write1) to a file
// and fdatasync'ing it each time. Write500 is the ceiling of
// AppendBatch500; Write1, one fsync per event, is what AppendSingle64 would
// get without group commit.
func BenchmarkDiskBaseline(b *testing.B) {
	for _, bc := range []struct {
		name  string
		batch int
	}{{"Write500", 500}, {"Write1", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			var buf []byte
			for i := range bc.batch {
				e := storetest.BenchEvent(i)
				buf = append(buf, e.ID...)
				buf = append(buf, e.Stream...)
				buf = append(buf, e.Type...)
				buf = append(buf, e.Data...)
			}
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bc.batch*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkStore_AppendWhileAcking appends one event per op while a
// subscriber moves its checkpoint to each commit it sees: what acks cost
// ingest. NoAcks is the baseline.
//
//	go test -run '^$' -bench 'Store_AppendWhileAcking' ./sqlite/
func BenchmarkStore_AppendWhileAcking(b *testing.B) {
	for _, level := range []string{"NoAcks", "Acks"} {
		b.Run(level, func(b *testing.B) {
			s := newLog(b)(b)
			ctx, stop := context.WithCancel(context.Background())
			acks := make(chan int, 1)
			if level == "NoAcks" {
				acks <- 0
			} else {
				go func() {
					n := 0
					defer func() { acks <- n }()
					for p := sluice.Position(0); ; n++ {
						head, err := s.WaitHead(ctx, p)
						if err != nil {
							return // stopped
						}
						if err := s.SetCheckpoint(context.Background(), "bench", p, head); err != nil {
							b.Error(err)
							return
						}
						p = head
					}
				}()
			}
			i := 0
			for b.Loop() {
				if _, err := s.Append(context.Background(), []sluice.AppendRequest{{Events: []sluice.Event{storetest.BenchEvent(i)}}}); err != nil {
					b.Fatal(err)
				}
				i++
			}
			stop()
			b.ReportMetric(float64(<-acks)/b.Elapsed().Seconds(), "acks/s")
		})
	}
}

// BenchmarkStore_TailRead is what a subscriber's poll costs the reading
// pool: the subscription's definition, then the last ten events of a log
// written in commits of ten.
//
//	go test -run '^$' -bench 'Store_TailRead' ./sqlite/
func BenchmarkStore_TailRead(b *testing.B) {
	s := newLog(b)(b)
	ctx := context.Background()
	for c := range 100 {
		evs := make([]sluice.Event, 10)
		for i := range evs {
			evs[i] = storetest.BenchEvent(c*10 + i)
		}
		if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := s.PutSubscription(ctx, sluice.Subscription{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	head, _ := s.Head(ctx)
	for b.Loop() {
		if _, err := s.Subscription(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
		evs, err := s.ReadLog(ctx, head-10, sluice.Filter{}, 100)
		if err != nil || len(evs) != 10 {
			b.Fatalf("%d events, %v", len(evs), err)
		}
	}
}

// BenchmarkStore_AppendAtSize appends batches of 500 events of about 150
// bytes with random (UUIDv4) ids to a store: Empty, a new one; Full, the
// data directory that SLUICE_BENCH_FULL_DIR names (skipped without it), which
// docs/benchmarks.md fills with 50 million such events. The issue wants Full
// within 10 % of Empty. Run each once per call, so that Full is opened once:
//
//	SLUICE_BENCH_FULL_DIR=/tmp/50m go test -run '^$' -bench Store_AppendAtSize -benchtime 2000x -count 3 ./sqlite/
func BenchmarkStore_AppendAtSize(b *testing.B) {
	for _, size := range []string{"Empty", "Full"} {
		b.Run(size, func(b *testing.B) {
			dir := b.TempDir()
			if size == "Full" {
				if dir = os.Getenv("SLUICE_BENCH_FULL_DIR"); dir == "" {
					b.Skip("SLUICE_BENCH_FULL_DIR names no data directory")
				}
			}
			ctx := context.Background()
			start := time.Now()
			s, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
			if err != nil {
				b.Fatal(err)
			}
			opened := time.Since(start)
			defer s.Close()
			head, _ := s.Head(ctx)
			i := int(head)
			cpu := cpuTime()
			for b.Loop() {
				evs := make([]sluice.Event, 500)
				for j := range evs {
					evs[j] = smallEvent(i)
					i++
				}
				if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(500*b.N)/b.Elapsed().Seconds(), "events/s")
			// The process's CPU, the flusher's included, per event: on a
			// shared machine it swings less than the rate.
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(500*b.N), "cpu-µs/event")
			stalls, runs, filter := s.IDIndexStats()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(opened.Seconds(), "open-s")
			b.ReportMetric(float64(stalls), "stalls")
			b.ReportMetric(float64(runs), "runs")
			b.ReportMetric(float64(filter)/(1<<20), "filter-MiB")
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// smallEvent is an event of about 150 bytes with a random UUIDv4 id.
func smallEvent(i int) sluice.Event {
	id := storetest.BenchID()
	data := fmt.Sprintf(`{"session":"s-%08d","url":"/products/%d","title":"Blue running shoes","ms":%d}`, i%100000, i%5000, i%30000)
	return sluice.Event{ID: id, Type: "page.viewed", Stream: "site-" + strconv.Itoa(i%50), Data: []byte(data)}
}
