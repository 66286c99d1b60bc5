package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// benchEvents is how many events each benchmark's iteration delivers.
const benchEvents = 100_000

// BenchmarkDrain is the sink's sustained delivery from the embedded log,
// through the runner, in its default batches (1,000 records), to a topic
// of eight partitions on kfake in this process (its CPU is counted too),
// without and with compression; beside it, the baseline: franz-go alone
// producing the same records (same values, keys and headers) to the same
// kind of cluster in batches of 1,000, each awaited, as the sink does.
func BenchmarkDrain(b *testing.B) {
	for _, compression := range []string{"none", "snappy"} {
		b.Run("sink/compression="+compression, func(b *testing.B) {
			d := newDestination(b, 8)
			c := d.config()
			c.Compression = compression
			sinktest.Drain(b, c, benchEvents, sink.Batch{})
		})
		b.Run("baseline-franz-go/compression="+compression, func(b *testing.B) { benchmarkFranzGo(b, compression) })
	}
}

// benchmarkFranzGo is the baseline: franz-go alone producing Drain's
// events as the sink would (same values, keys and headers) to a topic of
// eight partitions on kfake, in batches of 1,000, each awaited.
func benchmarkFranzGo(b *testing.B, compression string) {
	d := newDestination(b, 8)
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.brokers()...), kgo.DefaultProduceTopic(testTopic),
		kgo.ProducerLinger(0), kgo.ProducerBatchCompression(compressions[compression]))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	batches := baselineBatches(benchEvents, 1000)
	b.ResetTimer()
	cpu0 := sinktest.CPUTime()
	for b.Loop() {
		for _, batch := range batches {
			if err := produceAll(cl, batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	total := float64(b.N * benchEvents)
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric((sinktest.CPUTime()-cpu0).Seconds()/total*1e6, "cpu-s/Mevents")
}

// BenchmarkSink_Deliver is Deliver alone, of Drain's events in batches of
// 1,000 to eight partitions on kfake, beside franz-go alone producing the
// same records in the same batches: what the sink adds to its client.
func BenchmarkSink_Deliver(b *testing.B) {
	b.Run("sink", func(b *testing.B) {
		d := newDestination(b, 8)
		s := open(b, d.config())
		var batches [][]sluice.SinkRecord
		for i, e := range storedEvents(benchEvents) {
			if i%1000 == 0 {
				batches = append(batches, nil)
			}
			batches[len(batches)-1] = append(batches[len(batches)-1], sluice.SinkRecord{Event: &e, Body: e.AppendJSON(nil)})
		}
		cpu0 := sinktest.CPUTime()
		for b.Loop() {
			for _, batch := range batches {
				if err := s.Deliver(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			}
		}
		total := float64(b.N * benchEvents)
		b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric((sinktest.CPUTime()-cpu0).Seconds()/total*1e6, "cpu-s/Mevents")
	})
	b.Run("baseline-franz-go", func(b *testing.B) { benchmarkFranzGo(b, "none") })
}

// storedEvents are Drain's events as the log returns them.
func storedEvents(n int) []sluice.Event {
	evs := sinktest.BenchEvents(n)
	recorded := time.Now()
	for i := range evs {
		evs[i].ID, evs[i].Position, evs[i].Version, evs[i].RecordedAt = fmt.Sprintf("ev-%d", i), sluice.Position(i+1), uint64(i/100+1), recorded
	}
	return evs
}

// baselineBatches are Drain's events as the sink would produce them, in
// batches of size.
func baselineBatches(n, size int) [][]*kgo.Record {
	var batches [][]*kgo.Record
	for i, e := range storedEvents(n) {
		if i%size == 0 {
			batches = append(batches, nil)
		}
		r := &kgo.Record{Key: []byte(e.Stream), Value: e.AppendJSON(nil), Headers: []kgo.RecordHeader{
			{Key: HeaderID, Value: []byte(e.ID)}, {Key: HeaderType, Value: []byte(e.Type)}, {Key: HeaderStream, Value: []byte(e.Stream)},
			{Key: HeaderPosition, Value: fmt.Append(nil, e.Position)}, {Key: HeaderVersion, Value: fmt.Append(nil, e.Version)},
		}}
		batches[len(batches)-1] = append(batches[len(batches)-1], r)
	}
	return batches
}

// produceAll produces the records and waits for all their answers.
func produceAll(cl *kgo.Client, recs []*kgo.Record) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	wg.Add(len(recs))
	for _, r := range recs {
		cl.Produce(context.Background(), r, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				first = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	return first
}
