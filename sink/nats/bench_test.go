package nats

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkSink_Deliver: batches of 1,000 records (~230 bytes each) to a
// stream on the machine's server, each record a new event id.
func BenchmarkSink_Deliver(b *testing.B) {
	url := systemURL(b)
	for _, bb := range []struct {
		storage    jetstream.StorageType
		maxPending int
	}{
		{jetstream.FileStorage, 256},
		{jetstream.FileStorage, 1024},
		{jetstream.MemoryStorage, 256},
	} {
		b.Run(fmt.Sprintf("%s/max_pending=%d", bb.storage, bb.maxPending), func(b *testing.B) {
			ts := newTestStream(b, url, jetstream.StreamConfig{Storage: bb.storage})
			s := open(b, &Config{URL: url, Subject: ts.prefix + ".{stream}", MaxPending: bb.maxPending})
			connected(b, s)
			recs := records("bench", 1000)
			var bytes int64
			for _, r := range recs {
				bytes += int64(len(r.Body))
			}
			b.SetBytes(bytes)
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				for j := range recs {
					recs[j].Event.ID = fmt.Sprintf("bench-%d-%d", i, j)
				}
				if err := s.Deliver(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
		})
	}
}
