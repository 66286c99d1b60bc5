package jetstream

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil/natstest"
	"github.com/sluicehq/sluice/storetest"
)

// Run the store's benchmarks and their baseline in one go, so that they
// are measured against each other on the same embedded server:
//
//	go test -run '^$' -bench . -benchtime 4s ./jetstream/
//
// BenchmarkStore/AppendBatch500 over BenchmarkRawPublish500 is the ratio
// that docs/benchmarks.md reports.

const benchBatch = 500

// benchLogs numbers the benchmarks' logs on one server.
var benchLogs int

// openBench opens a fresh R1 log on the server at url.
func openBench(tb testing.TB, url string) *Store {
	tb.Helper()
	benchLogs++
	s, err := Open(context.Background(), Options{URL: url, Name: fmt.Sprintf("b%d", benchLogs), Replicas: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkStore runs the benchmarks every backend shares on one embedded
// node, each on a fresh R1 log.
func BenchmarkStore(b *testing.B) {
	c := natstest.Single(b)
	storetest.Benchmark(b, func(tb testing.TB) storetest.Opener {
		s := openBench(tb, c.URLs())
		return func(testing.TB) sluice.Store { return s }
	})
}

// BenchmarkRawPublish500 is the baseline of Store/AppendBatch500: the same
// messages (subjects, bodies, id and version headers) published to the
// same kind of stream, 500 asynchronous publishes then a wait for their
// acknowledgements, as nats bench does; no plan, no atomic batch, no
// expected sequences, no id index.
func BenchmarkRawPublish500(b *testing.B) {
	c := natstest.Single(b)
	s := openBench(b, c.URLs())
	js, err := jetstream.New(s.nc, jetstream.WithPublishAsyncMaxPending(benchBatch))
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*nats.Msg, benchBatch)
	b.SetBytes(int64(benchBatch * len(storetest.BenchEvent(0).Data)))
	for b.Loop() {
		b.StopTimer() // making events is the client's work, not the store's
		for i := range msgs {
			e := storetest.BenchEvent(i)
			e.RecordedAt, e.Version = time.Now().UTC(), 1
			body, err := encodeBody(&e)
			if err != nil {
				b.Fatal(err)
			}
			m := nats.NewMsg(s.subject(e.Stream))
			m.Data = body
			m.Header.Set(jetstream.MsgIDHeader, e.ID)
			m.Header.Set(hdrVersion, strconv.FormatUint(e.Version, 10))
			msgs[i] = m
		}
		b.StartTimer()
		for _, m := range msgs {
			if _, err := js.PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("raw publishes not acknowledged within a minute")
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}
