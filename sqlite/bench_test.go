package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

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
