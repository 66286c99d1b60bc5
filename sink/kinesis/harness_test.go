package kinesis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/testutil/npmpeers"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// peer is this test binary's kinesalite, started by the first test that
// needs it and stopped by TestMain: each test has streams of its own in it.
var peer struct {
	once sync.Once
	p    *npmpeers.Peer
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if peer.p != nil {
		peer.p.Stop()
	}
	os.Exit(code)
}

// kinesaliteURL returns the URL of the test binary's kinesalite, or skips
// tb when it is not installed (fails it when CI is set).
func kinesaliteURL(tb testing.TB) string {
	tb.Helper()
	peer.once.Do(func() {
		// Streams are active at once, and a test binary's streams may
		// have many shards together.
		peer.p, peer.err = npmpeers.Start("kinesalite", "--port", "{port}",
			"--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0", "--shardLimit", "100000")
	})
	npmpeers.Skip(tb, peer.err)
	return "http://" + peer.p.Addr
}

// testRegion and testCredentials are what the tests' clients sign with:
// kinesalite checks that requests are signed, not by whom.
const testRegion = "us-east-1"

var testCredentials = credentials.NewStaticCredentialsProvider("test", "test", "")

// streamSeq numbers the tests' streams.
var streamSeq atomic.Int64

// destination is a stream of a test's own in kinesalite, with a fault
// proxy in front of it.
type destination struct {
	stream string
	admin  *awskinesis.Client // straight to kinesalite
	proxy  *faultProxy
}

// newDestination creates a stream of shards shards, active, and deletes
// it when tb ends.
func newDestination(tb testing.TB, shards int) *destination {
	tb.Helper()
	url := kinesaliteURL(tb)
	d := &destination{
		stream: fmt.Sprintf("sluice-test-%d", streamSeq.Add(1)),
		admin: awskinesis.New(awskinesis.Options{
			Region: testRegion, BaseEndpoint: aws.String(url), Credentials: testCredentials,
		}),
		proxy: newFaultProxy(tb, url),
	}
	ctx := context.Background()
	if _, err := d.admin.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: &d.stream, ShardCount: aws.Int32(int32(shards))}); err != nil {
		tb.Fatalf("create stream %s: %v", d.stream, err)
	}
	tb.Cleanup(func() {
		_, _ = d.admin.DeleteStream(context.Background(), &awskinesis.DeleteStreamInput{StreamName: &d.stream})
	})
	testutil.Eventually(tb, 10*time.Second, func() bool {
		out, err := d.admin.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: &d.stream})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive
	}, "stream "+d.stream+" active")
	return d
}

// config is a sink's configuration for the stream, through the proxy.
func (d *destination) config() *Config {
	return &Config{
		Stream: d.stream, AWS: awsconf.Config{Region: testRegion, Endpoint: d.proxy.URL(), AccessKeyID: "test", SecretAccessKey: "test"},
		Timeout: time.Minute,
	}
}

// record is a record the stream holds.
type record struct {
	data         []byte
	partitionKey string
	shard        string
	arrival      time.Time
}

// records returns what the stream holds, read from every shard with
// GetRecords: in each shard's order, the shards merged by arrival time.
func (d *destination) records(tb testing.TB) []record {
	tb.Helper()
	ctx := context.Background()
	shards, err := d.admin.ListShards(ctx, &awskinesis.ListShardsInput{StreamName: &d.stream})
	if err != nil {
		tb.Fatalf("list shards of %s: %v", d.stream, err)
	}
	var perShard [][]record
	for _, sh := range shards.Shards {
		it, err := d.admin.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{
			StreamName: &d.stream, ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			tb.Fatalf("shard iterator of %s: %v", *sh.ShardId, err)
		}
		var recs []record
		for iter := it.ShardIterator; iter != nil; {
			out, err := d.admin.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				tb.Fatalf("get records of %s: %v", *sh.ShardId, err)
			}
			if len(out.Records) == 0 {
				break
			}
			for _, r := range out.Records {
				recs = append(recs, record{r.Data, *r.PartitionKey, *sh.ShardId, *r.ApproximateArrivalTimestamp})
			}
			iter = out.NextShardIterator
		}
		perShard = append(perShard, recs)
	}
	var all []record
	for {
		next := -1 // the shard whose next record arrived first
		for i, recs := range perShard {
			if len(recs) > 0 && (next < 0 || recs[0].arrival.Before(perShard[next][0].arrival)) {
				next = i
			}
		}
		if next < 0 {
			return all
		}
		all, perShard[next] = append(all, perShard[next][0]), perShard[next][1:]
	}
}

// bodies returns the data of the records the stream holds, in the order
// of records.
func (d *destination) bodies(tb testing.TB) [][]byte {
	tb.Helper()
	var bodies [][]byte
	for _, r := range d.records(tb) {
		bodies = append(bodies, r.data)
	}
	return bodies
}

// newHarness is the kinesis sink's for the conformance suite: a stream of
// four shards in kinesalite, behind the fault proxy. Kinesis fails records
// one by one only retryably (throttling, internal failures): Refuse fails
// the whole requests holding the refused records, with a
// ValidationException, as Kinesis refuses a request with a record it
// cannot take.
func newHarness(t *testing.T) sinktest.Harness {
	d := newDestination(t, 4)
	c := d.config()
	return sinktest.Harness{
		Destination: c,
		Fields: map[string]any{
			"type": "kinesis", "stream": c.Stream, "region": c.AWS.Region, "endpoint": c.AWS.Endpoint,
			"access_key_id": c.AWS.AccessKeyID, "secret_access_key": c.AWS.SecretAccessKey, "timeout": c.Timeout.String(),
		},
		Received: d.bodies,
		Outage: func(t testing.TB, on bool) {
			if on {
				d.proxy.Answer(503, "ServiceUnavailable")
			} else {
				d.proxy.Answer(0, "")
			}
		},
		Refuse: func(t testing.TB, ids []string) { d.proxy.Refuse(ids) },
		Flaky: func(t testing.TB, ids []string, times int) {
			d.proxy.Flaky(ids, times, "ProvisionedThroughputExceededException")
		},
	}
}

// TestHarness checks the harness that the conformance suite will use.
func TestHarness(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	s, err := h.Destination.Open(context.Background(), sink.Env{Name: "harness"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	records := newRecords(12, "a", "b", "c")

	t.Run("Fields", func(t *testing.T) { sinktest.CheckFields(t, h, "kinesis") })

	t.Run("Received", func(t *testing.T) {
		if err := s.Deliver(ctx, records[:6]); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		got := ids(t, h.Received(t))
		if want := recordIDs(records[:6]); !slices.Equal(sortedCopy(got), sortedCopy(want)) {
			t.Fatalf("received %v, want %v", got, want)
		}
		for _, order := range [][2]string{{"ev-0", "ev-3"}, {"ev-1", "ev-4"}} { // of streams a and b
			if slices.Index(got, order[0]) > slices.Index(got, order[1]) {
				t.Errorf("%s received before %s: %v", order[1], order[0], got)
			}
		}
	})

	t.Run("Outage", func(t *testing.T) {
		h.Outage(t, true)
		if err := s.Deliver(ctx, records[6:7]); err == nil || sluice.IsPermanent(err) {
			t.Errorf("during an outage: %v, want a retryable error", err)
		}
		h.Outage(t, false)
		if err := s.Deliver(ctx, records[6:7]); err != nil {
			t.Errorf("after the outage: %v", err)
		}
	})

	t.Run("Flaky", func(t *testing.T) {
		h.Flaky(t, []string{"ev-8"}, 1)
		err := s.Deliver(ctx, records[7:10])
		var de *sluice.DeliveryError
		if !errors.As(err, &de) || len(de.Failed) != 1 || de.Failed[0].Index != 1 || sluice.IsPermanent(de.Failed[0].Err) {
			t.Fatalf("want record 1 failed retryably, got %v", err)
		}
		if err := s.Deliver(ctx, records[8:9]); err != nil {
			t.Errorf("the second time: %v", err)
		}
	})

	t.Run("Refuse", func(t *testing.T) {
		h.Refuse(t, []string{"ev-11"})
		if err := s.Deliver(ctx, records[10:12]); !sluice.IsPermanent(err) {
			t.Errorf("a batch holding a refused record: %v, want a permanent error", err)
		}
		if err := s.Deliver(ctx, records[10:11]); err != nil {
			t.Errorf("a batch without it: %v", err)
		}
	})

	if got := ids(t, h.Received(t)); len(got) != 11 {
		t.Errorf("received %d records, want 11 (all but the refused one): %v", len(got), got)
	}
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, newHarness, sinktest.Features{})
}
