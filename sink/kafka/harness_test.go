package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/sinktest"
)

// testTopic is the topic of every test's cluster.
const testTopic = "events"

// destination is a kfake cluster of a test's own, with one topic, faults
// it injects into produce requests by the event ids of their records, and
// a kgo consumer that reads the topic back.
type destination struct {
	cluster    *kfake.Cluster
	partitions int32

	mu      sync.Mutex
	flaky   map[string]int  // failures left of these ids, retryably
	refused map[string]bool // these ids fail for good
	outage  *kfake.FaultHandle

	// readerOpts are the reader's options beside the brokers and the
	// partitions (TLS, SASL).
	readerOpts []kgo.Opt
	readMu     sync.Mutex
	reader     *kgo.Client // consumes the topic from its start
	admin      *kadm.Client
	got        [][]*kgo.Record // per partition, in offset order
}

// newDestination starts a cluster of one broker with the topic in
// partitions partitions, and closes it when tb ends.
func newDestination(tb testing.TB, partitions int32, opts ...kfake.Opt) *destination {
	tb.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, testTopic)}, opts...)...)
	if err != nil {
		tb.Fatalf("start kfake: %v", err)
	}
	tb.Cleanup(c.Close)
	d := &destination{cluster: c, partitions: partitions, flaky: map[string]int{}, refused: map[string]bool{},
		got: make([][]*kgo.Record, partitions)}
	// One fault per partition and kind: a fault answers the partitions it
	// selects, and its When sees the whole request, so each looks at the
	// records of its own partition. Refusals come first.
	for p := range partitions {
		c.Fault(
			kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Partitions: []int32{p}, Count: -1, Err: kerr.InvalidRecord,
				When: func(req kmsg.Request) bool { return d.hit(req, p, false) }},
			kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Partitions: []int32{p}, Count: -1, Err: kerr.NotEnoughReplicas,
				When: func(req kmsg.Request) bool { return d.hit(req, p, true) }},
		)
	}
	return d
}

// brokers are the cluster's addresses.
func (d *destination) brokers() []string { return d.cluster.ListenAddrs() }

// config is a sink's configuration for the topic. Batches go
// uncompressed, so that the faults can read their records.
func (d *destination) config() *Config {
	return &Config{Brokers: d.brokers(), Topic: testTopic, Compression: "none", Timeout: 10 * time.Second}
}

// Flaky makes the produce of a partition's records fail with
// NOT_ENOUGH_REPLICAS, retryable, whenever they hold a record of these
// ids, the next times times each.
func (d *destination) Flaky(ids []string, times int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		d.flaky[id] = times
	}
}

// Refuse makes the produce of a partition's records fail with
// INVALID_RECORD, not retriable, whenever they hold a record of these ids;
// the ids replace those refused before.
func (d *destination) Refuse(ids []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.refused)
	for _, id := range ids {
		d.refused[id] = true
	}
}

// Outage makes every produce fail with NOT_ENOUGH_REPLICAS (on) until it
// is turned off.
func (d *destination) Outage(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case on && d.outage == nil:
		d.outage = d.cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Count: -1, Err: kerr.NotEnoughReplicas})
	case !on && d.outage != nil:
		d.outage.Remove()
		d.outage = nil
	}
}

// hit reports whether the records of partition p in the produce request
// hold a flaky id with failures left (flaky, counting one down for each),
// or a refused one.
func (d *destination) hit(req kmsg.Request, p int32, flaky bool) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if flaky && len(d.flaky) == 0 || !flaky && len(d.refused) == 0 {
		return false
	}
	hit := false
	for _, t := range req.(*kmsg.ProduceRequest).Topics {
		for _, rp := range t.Partitions {
			if rp.Partition != p {
				continue
			}
			for _, id := range batchIDs(rp.Records) {
				switch {
				case !flaky && d.refused[id]:
					hit = true
				case flaky && d.flaky[id] > 0:
					d.flaky[id]--
					hit = true
				}
			}
		}
	}
	return hit
}

// batchIDs returns the Sluice-Id headers of the records of the
// uncompressed record batches in raw.
func batchIDs(raw []byte) []string {
	var ids []string
	for len(raw) >= 12 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			return ids
		}
		raw = raw[min(len(raw), 12+int(b.Length)):]
		recs := b.Records
		for range b.NumRecords {
			n, w := binary.Varint(recs)
			if w <= 0 || int(n) > len(recs)-w {
				break
			}
			var r kmsg.Record
			if r.ReadFrom(recs[:w+int(n)]) == nil {
				for _, h := range r.Headers {
					if h.Key == HeaderID {
						ids = append(ids, string(h.Value))
					}
				}
			}
			recs = recs[w+int(n):]
		}
	}
	return ids
}

// records returns what the topic holds, each partition in offset order,
// the partitions one after the other.
func (d *destination) records(tb testing.TB) []*kgo.Record {
	tb.Helper()
	d.readMu.Lock()
	defer d.readMu.Unlock()
	if d.reader == nil {
		offsets := map[int32]kgo.Offset{}
		for p := range d.partitions {
			offsets[p] = kgo.NewOffset().AtStart()
		}
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(d.brokers()...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{testTopic: offsets})}, d.readerOpts...)...)
		if err != nil {
			tb.Fatal(err)
		}
		d.reader, d.admin = cl, kadm.NewClient(cl)
		tb.Cleanup(cl.Close)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := d.admin.ListEndOffsets(ctx, testTopic)
	if err != nil {
		tb.Fatalf("list the end offsets: %v", err)
	}
	behind := func() bool {
		for p := range d.partitions {
			end, _ := ends.Lookup(testTopic, p)
			if int64(len(d.got[p])) < end.Offset {
				return true
			}
		}
		return false
	}
	for behind() {
		fs := d.reader.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			tb.Fatalf("read the topic back: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { d.got[r.Partition] = append(d.got[r.Partition], r) })
	}
	return slices.Concat(d.got...)
}

// bodies returns the values of the records the topic holds, in the order
// of records.
func (d *destination) bodies(tb testing.TB) [][]byte {
	var out [][]byte
	for _, r := range d.records(tb) {
		out = append(out, r.Value)
	}
	return out
}

// newHarness is the kafka sink's for the conformance suite: a topic of
// four partitions on a kfake cluster of the test's own. Kafka fails a
// partition's records together (a record batch is taken or refused
// whole), so Refuse fails every record produced to a partition alongside
// a refused one: the suite runs without Features.RecordRefusals.
func newHarness(t *testing.T) sinktest.Harness {
	d := newDestination(t, 4)
	c := d.config()
	return sinktest.Harness{
		Destination: c,
		Fields: map[string]any{
			"type": "kafka", "brokers": c.Brokers, "topic": c.Topic, "compression": c.Compression, "timeout": c.Timeout.String(),
		},
		Received: d.bodies,
		Outage:   func(_ testing.TB, on bool) { d.Outage(on) },
		Refuse:   func(_ testing.TB, ids []string) { d.Refuse(ids) },
		Flaky:    func(_ testing.TB, ids []string, times int) { d.Flaky(ids, times) },
	}
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, newHarness, sinktest.Features{})
}

// TestBatchIDs: the faults find the ids of a batch as franz-go encodes
// it.
func TestBatchIDs(t *testing.T) {
	t.Parallel()
	d := newDestination(t, 1)
	var seen []string // in the order of the requests' batches
	var mu sync.Mutex
	d.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		d.cluster.KeepControl()
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				mu.Lock()
				seen = append(seen, batchIDs(p.Records)...)
				mu.Unlock()
			}
		}
		return nil, nil, false
	})
	s := open(t, d.config())
	if err := s.Deliver(context.Background(), newRecords(3, "a")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(seen); got != "[ev-0 ev-1 ev-2]" {
		t.Errorf("ids in the produce requests: %s", got)
	}
	if !bytes.Equal(d.records(t)[2].Value, newRecords(3, "a")[2].Body) {
		t.Error("the record read back is not the one produced")
	}
}
