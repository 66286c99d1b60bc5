package nats

import (
	"context"
	"fmt"
	"testing"

	gonats "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// BenchmarkSink_Deliver: batches of 1,000 records (~175 bytes each) to a
// stream on the machine's server, each record a new event id; against
// the same messages published with nats.go alone, awaiting every ack
// with PublishAsyncComplete (the baseline: what the sink's window and
// per-record outcomes cost).
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
		name := fmt.Sprintf("%s/max_pending=%d", bb.storage, bb.maxPending)
		b.Run(name, func(b *testing.B) {
			ts := newTestStream(b, url, jetstream.StreamConfig{Storage: bb.storage})
			s := open(b, &Config{URL: url, Subject: ts.prefix + ".{stream}", MaxPending: bb.maxPending})
			connected(b, s)
			benchmark(b, func(recs []sluice.SinkRecord) error { return s.Deliver(context.Background(), recs) })
		})
		b.Run("baseline-nats.go/"+name, func(b *testing.B) {
			ts := newTestStream(b, url, jetstream.StreamConfig{Storage: bb.storage})
			s := open(b, &Config{URL: url, Subject: ts.prefix + ".{stream}"}) // for its messages
			nc, err := gonats.Connect(url)
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(bb.maxPending))
			if err != nil {
				b.Fatal(err)
			}
			benchmark(b, func(recs []sluice.SinkRecord) error {
				for i := range recs {
					if _, err := js.PublishMsgAsync(s.message(&recs[i])); err != nil {
						return err
					}
				}
				<-js.PublishAsyncComplete()
				return nil
			})
		})
	}
}

// benchmark calls deliver with batches of 1,000 records of new ids, and
// reports events/s.
func benchmark(b *testing.B, deliver func([]sluice.SinkRecord) error) {
	recs := records("bench", 1000)
	var bytes int64
	for _, r := range recs {
		bytes += int64(len(r.Body))
	}
	b.SetBytes(bytes)
	for i := 0; b.Loop(); i++ {
		for j := range recs {
			recs[j].Event.ID = fmt.Sprintf("bench-%d-%d", i, j)
		}
		if err := deliver(recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDrain is the sink's sustained delivery from the embedded log
// (sinktest.Drain) to a file-backed stream on the machine's server, in
// the default batches.
func BenchmarkDrain(b *testing.B) {
	url := systemURL(b)
	ts := newTestStream(b, url, jetstream.StreamConfig{Storage: jetstream.FileStorage})
	sinktest.Drain(b, &Config{URL: url, Subject: ts.prefix + ".{stream}"}, 100_000, sink.Batch{})
}
