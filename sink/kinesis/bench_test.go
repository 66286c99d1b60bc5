package kinesis

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// BenchmarkSink_Deliver puts batches of 500 records (events of about 400
// bytes, of 16 streams) into a stream of four shards in kinesalite,
// straight (no proxy): what kinesalite takes, one batch at a time.
func BenchmarkSink_Deliver(b *testing.B) {
	d := newDestination(b, 4)
	c := d.config()
	c.AWS.Endpoint = kinesaliteURL(b)
	s := open(b, c)
	records := newRecords(500, "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15")
	var size int64
	for i, r := range records {
		r.Event.Data = fmt.Appendf(nil, `{"n":%d,"page":"/pricing","referrer":%q}`, i, strings.Repeat("r", 220))
		records[i].Body = r.Event.AppendJSON(nil)
		size += int64(len(records[i].Body))
	}
	b.SetBytes(size)
	for b.Loop() {
		if err := s.Deliver(context.Background(), records); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(records))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDrain is the sink's sustained delivery from the embedded log
// (sinktest.Drain) into a stream of four shards in kinesalite, in the
// default batches of 500: kinesalite's pace.
func BenchmarkDrain(b *testing.B) {
	c := newDestination(b, 4).config()
	c.AWS.Endpoint = kinesaliteURL(b)
	sinktest.Drain(b, c, 20_000, sink.Batch{})
}
