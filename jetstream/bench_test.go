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
// are measured against each other on the same embedded servers, one node
// (R1) and a cluster of three on loopback (R3):
//
//	go test -p 1 -run '^$' -bench . -benchtime 4s ./jetstream/
//
// BenchmarkStore/R3/AppendBatch500 over BenchmarkRawPublish500/R3 is the
// ratio that docs/benchmarks.md reports.

const benchBatch = 500

// benchLogs numbers the benchmarks' logs on one server.
var benchLogs int

// openBench opens a fresh log of replicas on the servers at url.
func openBench(tb testing.TB, url string, replicas int) *Store {
	tb.Helper()
	benchLogs++
	s, err := Open(context.Background(), Options{URL: url, Name: fmt.Sprintf("b%d", benchLogs), Replicas: replicas})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// benchClusters runs bench on one embedded node (R1) and on a cluster of
// three (R3), each started once for all of bench's runs.
func benchClusters(b *testing.B, bench func(b *testing.B, url string, replicas int)) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("R%d", n), func(b *testing.B) {
			c := natstest.Single(b)
			if n > 1 {
				c = natstest.Start(b, n)
			}
			bench(b, c.URLs(), n)
		})
	}
}

// BenchmarkStore runs the benchmarks every backend shares, each on a fresh
// log.
func BenchmarkStore(b *testing.B) {
	benchClusters(b, func(b *testing.B, url string, replicas int) {
		storetest.Benchmark(b, func(tb testing.TB) storetest.Opener {
			s := openBench(tb, url, replicas)
			return func(testing.TB) sluice.Store { return s }
		})
	})
}

// BenchmarkRawPublish500 is the baseline of Store/AppendBatch500: the same
// messages (subjects, bodies, id and version headers) published to the
// same kind of stream, 500 asynchronous publishes then a wait for their
// acknowledgements, as nats bench does; no plan, no atomic batch, no
// expected sequences, no id index.
func BenchmarkRawPublish500(b *testing.B) {
	benchClusters(b, func(b *testing.B, url string, replicas int) { benchRawPublish(b, url, replicas, benchBatch) })
}

// groupRequests and groupEvents shape BenchmarkGroupCommit: one call of
// 8 requests of 500 events, as the writer's group commit of 8 Segment
// batches; request k writes streams of its own, so that the call's four
// atomic batches of 1,000 share no stream.
const groupRequests, groupEvents = 8, 500

// BenchmarkGroupCommit measures one Append of 4,000 events in four atomic
// batches with one batch in flight at a time and with four, and its
// baseline: 4,000 raw asynchronous publishes then a wait for their
// acknowledgements.
func BenchmarkGroupCommit(b *testing.B) {
	benchClusters(b, func(b *testing.B, url string, replicas int) {
		for _, w := range []int{1, 4} {
			b.Run(fmt.Sprintf("window=%d", w), func(b *testing.B) {
				benchLogs++
				s, err := Open(context.Background(), Options{URL: url, Name: fmt.Sprintf("b%d", benchLogs), Replicas: replicas, PublishWindow: w})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				benchGroupCommit(b, s)
			})
		}
		b.Run("raw", func(b *testing.B) { benchRawPublish(b, url, replicas, groupRequests*groupEvents) })
	})
}

func benchGroupCommit(b *testing.B, s *Store) {
	ctx := context.Background()
	reqs := make([]sluice.AppendRequest, groupRequests)
	b.SetBytes(int64(groupRequests * groupEvents * len(storetest.BenchEvent(0).Data)))
	for b.Loop() {
		b.StopTimer()
		for k := range reqs {
			evs := make([]sluice.Event, groupEvents)
			for i := range evs {
				evs[i] = storetest.BenchEvent(i)
				evs[i].Stream = fmt.Sprintf("g%d-%s", k, evs[i].Stream)
			}
			reqs[k] = sluice.AppendRequest{Events: evs}
		}
		b.StartTimer()
		if _, err := s.Append(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*groupRequests*groupEvents)/b.Elapsed().Seconds(), "events/s")
}

// benchRawPublish publishes n messages asynchronously, then waits for
// their acknowledgements.
func benchRawPublish(b *testing.B, url string, replicas, n int) {
	s := openBench(b, url, replicas)
	js, err := jetstream.New(s.nc, jetstream.WithPublishAsyncMaxPending(n))
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*nats.Msg, n)
	b.SetBytes(int64(n * len(storetest.BenchEvent(0).Data)))
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
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkIndexIDs500 is what the id index adds to Store/AppendBatch500:
// the index entries of 500 events written as the indexer writes them
// (asynchronous KV puts, then the watermark), on its own.
func BenchmarkIndexIDs500(b *testing.B) {
	benchClusters(b, func(b *testing.B, url string, replicas int) {
		s := openBench(b, url, replicas)
		ix := &indexer{s: s}
		ctx := context.Background()
		entries := make([]idEntry, benchBatch)
		var base sluice.Position
		for b.Loop() {
			for i := range entries {
				entries[i] = idEntry{id: storetest.BenchID(), position: base + sluice.Position(i+1), version: 1}
			}
			ix.index(ctx, base, base+benchBatch, entries)
			base += benchBatch
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkAppendBatch500Indexed is Store/AppendBatch500 with the time the
// indexer takes after the last commit to write what it holds counted in:
// up to indexBacklog commits' ids, which Store/AppendBatch500 leaves out.
func BenchmarkAppendBatch500Indexed(b *testing.B) {
	benchClusters(b, func(b *testing.B, url string, replicas int) {
		s := openBench(b, url, replicas)
		ctx := context.Background()
		batch := make([]sluice.Event, benchBatch)
		for b.Loop() {
			b.StopTimer()
			for i := range batch {
				batch[i] = storetest.BenchEvent(i)
			}
			b.StartTimer()
			if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: batch}}); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		if err := s.indexer.flush(ctx); err != nil {
			b.Fatal(err)
		}
		elapsed := b.Elapsed() + time.Since(start)
		b.ReportMetric(float64(b.N*benchBatch)/elapsed.Seconds(), "events/s")
	})
}
