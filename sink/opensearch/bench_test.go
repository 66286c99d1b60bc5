package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil/fakebulk"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// drainEvents is how many events each drain delivers.
const drainEvents = 100_000

// BenchmarkDrain is the sink's sustained delivery from the embedded log
// (sinktest.Drain: events of about 400 bytes over 100 streams) in its
// default batches (1,000 documents) to fakebulk, which parses every
// request, checks and stores every document and answers every item; it
// runs in this process, so its CPU is counted too. The baseline posts the
// same bulk bodies (1,000 documents each, built beforehand) to the same
// server with a bare net/http client that reads the answer and parses
// nothing: the ratio is what the log, the runner and the sink cost over
// the HTTP round trips and the server's work.
func BenchmarkDrain(b *testing.B) {
	for _, events := range []int{defaultEvents, 5000} {
		b.Run(fmt.Sprintf("sink/max_events=%d", events), func(b *testing.B) {
			srv := fakebulk.Start(b, fakebulk.Options{NoLog: true})
			sinktest.Drain(b, &Config{URL: srv.URL}, drainEvents, sink.Batch{MaxEvents: events})
		})
	}
	b.Run("baseline-net/http", func(b *testing.B) {
		srv := fakebulk.Start(b, fakebulk.Options{NoLog: true})
		bodies := bulkBodies(b, drainEvents, defaultEvents)
		client := &http.Client{}
		b.ResetTimer()
		cpu0 := cpuTime()
		for b.Loop() {
			for _, body := range bodies {
				resp, err := client.Post(srv.URL+bulkPath, "application/x-ndjson", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s", resp.Status)
				}
			}
		}
		total := float64(b.N * drainEvents)
		b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric((cpuTime()-cpu0).Seconds()/total*1e6, "cpu-s/Mevents")
	})
}

// BenchmarkDeliver is the sink alone, without the log and the runner:
// Deliver of batches of 1,000 records shaped as the drain's to fakebulk,
// each batch building its body, posting it and reading every item.
func BenchmarkDeliver(b *testing.B) {
	srv := fakebulk.Start(b, fakebulk.Options{NoLog: true})
	s := open(b, &Config{URL: srv.URL})
	recs := drainRecords(defaultEvents)
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		if err := s.Deliver(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	total := float64(b.N * len(recs))
	b.ReportMetric(total/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/total*1e6, "cpu-s/Mevents")
}

// drainRecords are n records of events shaped as sinktest.Drain's.
func drainRecords(n int) []sluice.SinkRecord {
	data := json.RawMessage(`{"order_id":"o-1234567","customer":{"id":"c-42","email":"someone@example.com"},"total":129.95,"currency":"EUR","items":[{"sku":"A-1","qty":2,"price":39.99},{"sku":"B-7","qty":1,"price":49.97}],"note":"leave at the door"}`)
	now := time.Now()
	recs := make([]sluice.SinkRecord, n)
	for i := range recs {
		e := &sluice.Event{ID: fmt.Sprintf("0190a1b2-c3d4-7e5f-8a9b-%012d", i), Type: "order.placed", Stream: fmt.Sprintf("order-%d", i%100),
			Source: "shop", Data: data, Position: sluice.Position(i + 1), Version: uint64(i/100 + 1), RecordedAt: now}
		recs[i] = sluice.SinkRecord{Event: e, Body: e.AppendJSON(nil)}
	}
	return recs
}

// bulkBodies are the _bulk bodies of n events shaped as sinktest.Drain's,
// per documents a body, as the sink writes them.
func bulkBodies(tb testing.TB, n, per int) [][]byte {
	tb.Helper()
	index, err := parseIndexPattern(DefaultIndex)
	if err != nil {
		tb.Fatal(err)
	}
	var bodies [][]byte
	var body, name []byte
	for i, r := range drainRecords(n) {
		name = index.append(name[:0], r.Event.RecordedAt)
		body = appendAction(body, name, r.Event.ID)
		body = appendSource(body, r.Body)
		if (i+1)%per == 0 || i == n-1 {
			bodies, body = append(bodies, body), nil
		}
	}
	return bodies
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
