package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice"
)

// Benchmark runs the benchmarks every backend shares: batches of 500
// appended directly, single events from 64 concurrent callers through the
// group-commit Writer, and reading the whole log.
func Benchmark(b *testing.B, newLog NewLog) {
	b.Run("AppendBatch500", func(b *testing.B) {
		s := newLog(b)(b)
		ctx := context.Background()
		batch := make([]sluice.Event, 500)
		b.SetBytes(int64(500 * len(BenchEvent(0).Data)))
		b.ResetTimer()
		for b.Loop() {
			b.StopTimer() // making events is the client's work, not the store's
			for i := range batch {
				batch[i] = BenchEvent(i)
			}
			b.StartTimer()
			if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: batch}}); err != nil {
				b.Fatal(err)
			}
		}
		reportEvents(b, 500*b.N)
	})
	b.Run("AppendSingle64", func(b *testing.B) {
		s := newLog(b)(b)
		w := sluice.NewWriter(s, sluice.WriterOptions{})
		defer w.Close(context.Background())
		var n atomic.Int64
		b.SetParallelism(32) // 32 × GOMAXPROCS (2 here): 64 callers
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				i := int(n.Add(1))
				if _, err := w.Append(ctx, sluice.AppendRequest{Events: []sluice.Event{BenchEvent(i)}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportEvents(b, b.N)
	})
	b.Run("ReadLog", func(b *testing.B) {
		s := newLog(b)(b)
		ctx := context.Background()
		const total = 100_000
		for i := 0; i < total; i += 1000 {
			batch := make([]sluice.Event, 1000)
			for j := range batch {
				batch[j] = BenchEvent(i + j)
			}
			if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: batch}}); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		read := 0
		for b.Loop() {
			var after sluice.Position
			for after < total {
				page, err := s.ReadLog(ctx, after, sluice.Filter{}, 1000)
				if err != nil {
					b.Fatal(err)
				}
				after = page[len(page)-1].Position
				read += len(page)
			}
		}
		reportEvents(b, read)
	})
}

func reportEvents(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchEvent returns a page view of about 400 bytes of JSON with a random
// UUIDv4 id, as analytics SDKs send them, in one of 50 streams.
func BenchEvent(i int) sluice.Event {
	id := BenchID()
	data := fmt.Sprintf(`{"anonymous_id":"%s","session_id":"s-%08d","url":"https://shop.example.com/products/%d?utm_source=newsletter&utm_medium=email","referrer":"https://www.example.org/search?q=blue+running+shoes","title":"Blue running shoes, size %d | Example Shop","viewport":{"width":1440,"height":900},"locale":"en-GB","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36","duration_ms":%d}`,
		id[:18], i%100_000, i%5000, 36+i%12, i%30_000)
	return sluice.Event{ID: id, Type: "page.viewed", Stream: fmt.Sprintf("site-%d", i%50), Data: []byte(data)}
}

// BenchID is a random UUIDv4, as analytics SDKs make event ids.
func BenchID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
