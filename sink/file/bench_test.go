package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// BenchmarkSink_Deliver: batches of 1,000 records (~125 bytes each) to a
// file on the machine's disk, with and without fsync, against the same
// writes to a file kept open (the baseline: what opening, checking and
// closing the file for each batch costs).
func BenchmarkSink_Deliver(b *testing.B) {
	recs := records("bench", 1000)
	lines := appendLines(nil, recs)
	for _, fsync := range []bool{true, false} {
		b.Run(fmt.Sprintf("fsync=%t", fsync), func(b *testing.B) {
			s := open(b, &Config{Path: filepath.Join(b.TempDir(), "out.ndjson"), Fsync: &fsync})
			b.SetBytes(int64(len(lines)))
			ctx := context.Background()
			for b.Loop() {
				if err := s.Deliver(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
		})
		b.Run(fmt.Sprintf("baseline-kept-open/fsync=%t", fsync), func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "out.ndjson"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(len(lines)))
			for b.Loop() {
				buf := appendLines(lines[:0], recs)
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				if fsync {
					if err := f.Sync(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDrain is the sink's sustained delivery from the embedded log
// (sinktest.Drain), fsync'd, in the default batches of 1,000.
func BenchmarkDrain(b *testing.B) {
	sinktest.Drain(b, &Config{Path: filepath.Join(b.TempDir(), "out.ndjson")}, 100_000, sink.Batch{})
}
