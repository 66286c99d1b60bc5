package s3

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// drainEvents is how many events each Drain delivers: about 280 MB of
// bodies, four objects of 64 MiB and a last one.
const drainEvents = 500_000

// BenchmarkDrain: from the embedded log through the runner into gofakes3,
// in objects of the default 64 MiB (the last one closed by a linger of
// 100ms), against the same runner into a destination that discards (the
// baseline: reading the log and making the records). It reports the
// highest heap seen, sampled every 10ms.
func BenchmarkDrain(b *testing.B) {
	batch := sink.Batch{Linger: 100 * time.Millisecond}
	b.Run("s3", func(b *testing.B) {
		d := newDestination(b)
		withPeakHeap(b, func() { sinktest.Drain(b, d.config("bench"), drainEvents, batch) })
	})
	b.Run("baseline-discard", func(b *testing.B) {
		withPeakHeap(b, func() { sinktest.Drain(b, discard{(&Config{}).Limits()}, drainEvents, batch) })
	})
}

// withPeakHeap runs f and reports the highest HeapInuse meanwhile.
func withPeakHeap(b *testing.B, f func()) {
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	<-stopped
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}

// discard is a destination that takes every batch and keeps nothing.
type discard struct{ limits sink.Limits }

func (discard) Validate() error                                     { return nil }
func (d discard) Limits() sink.Limits                               { return d.limits }
func (discard) Open(context.Context, sink.Env) (sluice.Sink, error) { return discard{}, nil }
func (discard) Deliver(context.Context, []sluice.SinkRecord) error  { return nil }
func (discard) Close() error                                        { return nil }

// variedRecords makes records of events like the Drain's, but with values
// that vary as real ones do (ids, times, amounts, customers), until their
// bodies take size bytes.
func variedRecords(size int) []sluice.SinkRecord {
	rng := rand.New(rand.NewPCG(1, 2))
	notes := []string{"", "leave at the door", "gift wrap", "call before delivery"}
	var out []sluice.SinkRecord
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for i, n := 0, 0; n < size; i++ {
		at = at.Add(time.Duration(rng.IntN(2000)) * time.Microsecond)
		data := fmt.Sprintf(`{"order_id":"o-%07d","customer":{"id":"c-%d","email":"user%d@example.com"},"total":%d.%02d,"currency":"EUR","items":[{"sku":"A-%d","qty":%d,"price":%d.99}],"note":%q}`,
			rng.IntN(1e7), rng.IntN(1e5), rng.IntN(1e5), rng.IntN(500), rng.IntN(100), rng.IntN(50), 1+rng.IntN(4), rng.IntN(100), notes[rng.IntN(len(notes))])
		ev := &sluice.Event{ID: fmt.Sprintf("0193e6d2-%04x-7%03x-%04x-%012x", i>>16, rng.IntN(1<<12), rng.IntN(1<<16), rng.Uint64()>>16), Type: "order.placed",
			Stream: fmt.Sprintf("order-%d", rng.IntN(1000)), Source: "shop", Position: sluice.Position(i + 1), Version: uint64(i/1000 + 1), RecordedAt: at, Data: []byte(data)}
		out = append(out, sluice.SinkRecord{Event: ev, Body: ev.AppendJSON(nil)})
		n += len(out[i].Body)
	}
	return out
}

// BenchmarkSink_Deliver writes objects of 64 MiB of variedRecords into
// gofakes3, against compressing the same lines alone (the baseline: what
// the requests, gofakes3 included, add).
func BenchmarkSink_Deliver(b *testing.B) {
	recs := variedRecords(64 << 20)
	var size int64
	for _, r := range recs {
		size += int64(len(r.Body))
	}
	run := func(b *testing.B, deliver func() error) {
		b.SetBytes(size)
		cpu0 := cpuTime()
		for b.Loop() {
			if err := deliver(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N*len(recs))*1e6, "cpu-s/Mevents")
	}
	b.Run("s3", func(b *testing.B) {
		s := open(b, newDestination(b).config("bench"))
		run(b, func() error { return s.Deliver(context.Background(), recs) })
	})
	b.Run("baseline-compress-only", func(b *testing.B) {
		var out bytes.Buffer
		var line []byte
		run(b, func() error {
			out.Reset()
			zw, _ := kgzip.NewWriterLevel(&out, gzipLevel)
			for _, r := range recs {
				line = sink.AppendLine(line[:0], r.Body)
				zw.Write(line)
			}
			return zw.Close()
		})
	})
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGzip compresses 16 MiB of variedRecords as one stream with
// compress/gzip and klauspost/compress at their fastest and default
// levels; it reports the compressed size as a share of the input.
func BenchmarkGzip(b *testing.B) {
	var ndjson []byte
	for _, r := range variedRecords(16 << 20) {
		ndjson = append(append(ndjson, r.Body...), '\n')
	}
	for _, c := range []struct {
		name string
		new  func(io.Writer) io.WriteCloser
	}{
		{"stdlib/level=1", func(w io.Writer) io.WriteCloser { z, _ := gzip.NewWriterLevel(w, gzip.BestSpeed); return z }},
		{"stdlib/level=6", func(w io.Writer) io.WriteCloser { z, _ := gzip.NewWriterLevel(w, gzip.DefaultCompression); return z }},
		{"klauspost/level=1", func(w io.Writer) io.WriteCloser { z, _ := kgzip.NewWriterLevel(w, kgzip.BestSpeed); return z }},
		{"klauspost/level=6", func(w io.Writer) io.WriteCloser { z, _ := kgzip.NewWriterLevel(w, kgzip.DefaultCompression); return z }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var out bytes.Buffer
			b.SetBytes(int64(len(ndjson)))
			for b.Loop() {
				out.Reset()
				z := c.new(&out)
				z.Write(ndjson)
				z.Close()
			}
			b.ReportMetric(100*float64(out.Len())/float64(len(ndjson)), "%size")
		})
	}
}
