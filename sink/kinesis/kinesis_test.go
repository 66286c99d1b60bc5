package kinesis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// newRecords returns n records as the runner hands them: stored events,
// the i-th of streams[i % len(streams)], each body the event's JSON.
func newRecords(n int, streams ...string) []sluice.SinkRecord {
	records := make([]sluice.SinkRecord, n)
	versions := map[string]uint64{}
	for i := range records {
		stream := streams[i%len(streams)]
		versions[stream]++
		e := &sluice.Event{
			ID: fmt.Sprintf("ev-%d", i), Type: "order.placed", Stream: stream,
			Data:     json.RawMessage(fmt.Sprintf(`{"n":%d,"user":{"id":"u-%d"}}`, i, i%3)),
			Position: sluice.Position(i + 1), Version: versions[stream],
			RecordedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		}
		records[i] = sluice.SinkRecord{Event: e, Body: e.AppendJSON(nil)}
	}
	return records
}

// open opens the sink of c and closes it when tb ends.
func open(tb testing.TB, c *Config) *Sink {
	tb.Helper()
	return sinktest.Open[*Sink](tb, c, sink.Env{Name: "test"})
}

// ids returns the event ids of bodies, each a stored event's JSON.
func ids(tb testing.TB, bodies [][]byte) []string {
	tb.Helper()
	out := make([]string, len(bodies))
	for i, b := range bodies {
		var e sluice.Event
		if err := json.Unmarshal(b, &e); err != nil {
			tb.Fatalf("record %d: %v: %s", i, err, b)
		}
		out[i] = e.ID
	}
	return out
}

// recordIDs returns the event ids of records.
func recordIDs(records []sluice.SinkRecord) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = r.Event.ID
	}
	return out
}

// failedIndexes returns the indexes a *DeliveryError lists, and fails tb
// when err is none.
func failedIndexes(tb testing.TB, err error) []int {
	tb.Helper()
	var de *sluice.DeliveryError
	if !errors.As(err, &de) {
		tb.Fatalf("want a *DeliveryError, got %v", err)
	}
	out := make([]int, len(de.Failed))
	for i, f := range de.Failed {
		out[i] = f.Index
	}
	return out
}

func TestSink_Deliver(t *testing.T) {
	t.Parallel()

	t.Run("Delivers", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 4)
		s := open(t, d.config())
		records := newRecords(30, "order-1", "order-2", "cart-9")
		if err := s.Deliver(context.Background(), records); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		got := d.records(t)
		if len(got) != len(records) {
			t.Fatalf("the stream holds %d records, want %d", len(got), len(records))
		}
		bodies := map[string][]byte{}
		for _, r := range got {
			var e sluice.Event
			if err := json.Unmarshal(r.data, &e); err != nil {
				t.Fatalf("record data is not an event: %v: %s", err, r.data)
			}
			if r.partitionKey != e.Stream {
				t.Errorf("event %s of stream %s has the partition key %q", e.ID, e.Stream, r.partitionKey)
			}
			if e.Position == 0 || e.Version == 0 {
				t.Errorf("event %s: no position or version: %s", e.ID, r.data)
			}
			bodies[e.ID] = r.data
		}
		for _, r := range records {
			if string(bodies[r.Event.ID]) != string(r.Body) {
				t.Errorf("event %s: data %s, want the body %s", r.Event.ID, bodies[r.Event.ID], r.Body)
			}
		}
	})

	t.Run("OrderWithinAStream", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 4)
		s := open(t, d.config())
		records := newRecords(500, "a", "b", "c", "d", "e")
		if err := s.Deliver(context.Background(), records); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		shardOf := map[string]string{}
		last := map[string]int64{}
		for _, r := range d.records(t) {
			var e sluice.Event
			_ = json.Unmarshal(r.data, &e)
			if sh, ok := shardOf[e.Stream]; ok && sh != r.shard {
				t.Errorf("stream %s is in shards %s and %s", e.Stream, sh, r.shard)
			}
			shardOf[e.Stream] = r.shard
			if int64(e.Position) <= last[e.Stream] {
				t.Errorf("stream %s: position %d after %d", e.Stream, e.Position, last[e.Stream])
			}
			last[e.Stream] = int64(e.Position)
		}
		if len(last) != 5 {
			t.Errorf("streams received: %v", last)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		if err := open(t, d.config()).Deliver(context.Background(), nil); err != nil {
			t.Fatalf("deliver nothing: %v", err)
		}
		if n := d.proxy.Requests(); n != 0 {
			t.Errorf("%d requests to open the sink and deliver nothing", n)
		}
	})

	t.Run("EmptyBody", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		records := newRecords(2, "s")
		records[0].Body = nil // a transform's empty output
		if err := open(t, d.config()).Deliver(context.Background(), records); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		if got := d.records(t); len(got) != 2 || len(got[0].data) != 0 {
			t.Errorf("stored %d records, want an empty one and the event", len(got))
		}
	})

	t.Run("PartitionKeyFromAField", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 2)
		c := d.config()
		c.PartitionKey = "data.user.id"
		records := newRecords(6, "order-1")
		if err := open(t, c).Deliver(context.Background(), records); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		for _, r := range d.records(t) {
			var e struct {
				Data struct{ User struct{ ID string } }
			}
			_ = json.Unmarshal(r.data, &e)
			if r.partitionKey != e.Data.User.ID {
				t.Errorf("partition key %q, want the user %q", r.partitionKey, e.Data.User.ID)
			}
		}
	})

	t.Run("LongPartitionKeyHashed", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 4)
		c := d.config()
		c.PartitionKey = "id"
		records := newRecords(2, "s")
		long := strings.Repeat("é", 200) // 400 bytes
		records[0].Event.ID, records[1].Event.ID = long, long
		if err := open(t, c).Deliver(context.Background(), records); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		got := d.records(t)
		if len(got) != 2 {
			t.Fatalf("%d records, want 2", len(got))
		}
		want := partitionKey(long)
		for _, r := range got {
			if r.partitionKey != want || len(want) != 64 {
				t.Errorf("partition key %q, want the SHA-256 of the key, %q", r.partitionKey, want)
			}
		}
		if got[0].shard != got[1].shard {
			t.Errorf("one key in shards %s and %s", got[0].shard, got[1].shard)
		}
	})

	t.Run("StreamARN", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		c := d.config()
		c.Stream, c.StreamARN = "", "arn:aws:kinesis:us-east-1:000000000000:stream/"+d.stream
		if err := open(t, c).Deliver(context.Background(), newRecords(3, "s")); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		if n := len(d.records(t)); n != 3 {
			t.Errorf("%d records, want 3", n)
		}
	})

	t.Run("PartialFailure", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 4)
		s := open(t, d.config())
		records := newRecords(10, "a", "b")
		d.proxy.Flaky([]string{"ev-2", "ev-7"}, 1, "ProvisionedThroughputExceededException")
		d.proxy.Flaky([]string{"ev-5"}, 1, "InternalFailure")
		err := s.Deliver(context.Background(), records)
		if got := failedIndexes(t, err); !slices.Equal(got, []int{2, 5, 7}) {
			t.Fatalf("failed %v, want [2 5 7]", got)
		}
		var de *sluice.DeliveryError
		errors.As(err, &de)
		for _, f := range de.Failed {
			if sluice.IsPermanent(f.Err) {
				t.Errorf("record %d: a throttled or failed record is permanent: %v", f.Index, f.Err)
			}
		}
		if msg := de.Failed[1].Err.Error(); !strings.Contains(msg, "InternalFailure") {
			t.Errorf("record 5's error does not name its code: %s", msg)
		}
		if msg := de.Failed[0].Err.Error(); !strings.Contains(msg, "ProvisionedThroughputExceededException: Rate exceeded") {
			t.Errorf("record 2's error does not name its code and message: %s", msg)
		}
		stored := ids(t, d.bodies(t))
		slices.Sort(stored)
		if want := []string{"ev-0", "ev-1", "ev-3", "ev-4", "ev-6", "ev-8", "ev-9"}; !slices.Equal(stored, want) {
			t.Fatalf("stored %v, want %v: a failed record must not be stored", stored, want)
		}
		// The runner sends the failed records again, in their order.
		again := []sluice.SinkRecord{records[2], records[5], records[7]}
		if err := s.Deliver(context.Background(), again); err != nil {
			t.Fatalf("deliver the failed records again: %v", err)
		}
		stored = ids(t, d.bodies(t))
		slices.Sort(stored)
		if want := recordIDs(records); !slices.Equal(stored, sortedCopy(want)) {
			t.Errorf("stored %v, want each of %v once", stored, want)
		}
	})

	t.Run("EveryRecordThrottled", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		records := newRecords(3, "a")
		d.proxy.Flaky(recordIDs(records), 1, "ProvisionedThroughputExceededException")
		err := open(t, d.config()).Deliver(context.Background(), records)
		var de *sluice.DeliveryError
		if err == nil || errors.As(err, &de) || sluice.IsPermanent(err) {
			t.Fatalf("want a retryable error for the batch, got %#v", err)
		}
		if !strings.Contains(err.Error(), "none of the 3 records") || !strings.Contains(err.Error(), "ProvisionedThroughputExceededException") {
			t.Errorf("error: %v", err)
		}
	})

	t.Run("RecordTooLarge", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		records := newRecords(3, "s") // partition key "s": 1 byte
		records[0].Body = append([]byte(`"`), append(make([]byte, maxRecordBytes-3), '"')...)
		records[1].Body = append([]byte(`"`), append(make([]byte, maxRecordBytes-2), '"')...)
		err := open(t, d.config()).Deliver(context.Background(), records)
		if got := failedIndexes(t, err); !slices.Equal(got, []int{1}) {
			t.Fatalf("failed %v, want [1]: a record and its key fill 1 MiB at most", got)
		}
		var de *sluice.DeliveryError
		errors.As(err, &de)
		if !sluice.IsPermanent(de.Failed[0].Err) {
			t.Errorf("a record too large is retryable: %v", de.Failed[0].Err)
		}
		if got := d.records(t); len(got) != 2 || len(got[0].data) != maxRecordBytes-1 {
			t.Errorf("stored %d records, want the 1 MiB one and the small one", len(got))
		}
	})

	t.Run("SplitsRequestsAtTheLimits", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 2)
		records := newRecords(1001, "s")
		pad := strings.Repeat("x", 900<<10) // six records of 900 KiB are over 5 MiB
		for i := range 6 {
			records[i].Body = fmt.Appendf(nil, `{"id":%q,"pad":%q}`, records[i].Event.ID, pad)
		}
		if err := open(t, d.config()).Deliver(context.Background(), records); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		if puts := d.proxy.Puts(); !slices.Equal(puts, []int{5, 500, 496}) {
			t.Errorf("requests of %v records, want [5 500 496]", puts)
		}
		if got := ids(t, d.bodies(t)); len(got) != 1001 {
			t.Errorf("stored %d records, want 1001", len(got))
		}
	})

	t.Run("LaterRequestFails", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		records := newRecords(1001, "s")
		d.proxy.Refuse([]string{"ev-600"})
		err := open(t, d.config()).Deliver(context.Background(), records)
		var de *sluice.DeliveryError
		if !errors.As(err, &de) || len(de.Failed) != 501 || de.Failed[0].Index != 500 || de.Failed[500].Index != 1000 {
			t.Fatalf("want records 500-1000 failed, got %v", err)
		}
		for _, f := range de.Failed {
			if refused := f.Index < 1000; sluice.IsPermanent(f.Err) != refused {
				t.Fatalf("record %d: permanent %v, want %v: %v", f.Index, sluice.IsPermanent(f.Err), refused, f.Err)
			}
		}
		if n := len(d.records(t)); n != 500 {
			t.Errorf("stored %d records, want the first request's 500", n)
		}
	})

	t.Run("ConcurrentDeliveries", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 4)
		s := open(t, d.config())
		records := newRecords(400, "a", "b", "c")
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for g := range 2 {
			wg.Go(func() { errs[g] = s.Deliver(context.Background(), records[g*200:(g+1)*200]) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		if got := sortedCopy(ids(t, d.bodies(t))); !slices.Equal(got, sortedCopy(recordIDs(records))) {
			t.Errorf("stored %d records, want each of the 400 once", len(got))
		}
	})
}

// sortedCopy returns s sorted, leaving s as it is.
func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestSink_Deliver_Errors checks how each failure of a whole request maps:
// what no retry can change is permanent, everything else retryable, and
// nothing is stored.
func TestSink_Deliver_Errors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status    int
		code      string
		permanent bool
	}{
		{503, "ServiceUnavailable", false},
		{500, "InternalFailure", false},
		{400, "ProvisionedThroughputExceededException", false},
		{400, "LimitExceededException", false},
		{400, "KMSThrottlingException", false},
		{400, "ResourceInUseException", false},
		{400, "AccessDeniedException", false},
		{400, "KMSAccessDeniedException", false},
		{400, "KMSDisabledException", false},
		{400, "ExpiredTokenException", false},
		{400, "UnrecognizedClientException", false},
		{400, "ValidationException", true},
		{400, "InvalidArgumentException", true},
	} {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			d := newDestination(t, 1)
			d.proxy.Answer(tt.status, tt.code)
			err := open(t, d.config()).Deliver(context.Background(), newRecords(3, "s"))
			var de *sluice.DeliveryError
			if err == nil || errors.As(err, &de) {
				t.Fatalf("want an error for the whole batch, got %v", err)
			}
			if sluice.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent: %v, want %v: %v", sluice.IsPermanent(err), tt.permanent, err)
			}
			if !strings.Contains(err.Error(), tt.code) {
				t.Errorf("the error does not name %s: %v", tt.code, err)
			}
			if n := d.proxy.Requests(); n != 1 {
				t.Errorf("%d requests, want 1: the SDK must not retry", n)
			}
			if n := len(d.records(t)); n != 0 {
				t.Errorf("stored %d records", n)
			}
		})
	}

	t.Run("StreamNotFound", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		c := d.config()
		c.Stream = "no-such-stream"
		err := open(t, c).Deliver(context.Background(), newRecords(1, "s"))
		if err == nil || sluice.IsPermanent(err) || !strings.Contains(err.Error(), "ResourceNotFoundException") {
			t.Fatalf("want a retryable ResourceNotFoundException, got %v", err)
		}
	})

	t.Run("ConnectionDropped", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		d.proxy.Drop(true)
		s := open(t, d.config())
		err := s.Deliver(context.Background(), newRecords(2, "s"))
		if err == nil || sluice.IsPermanent(err) {
			t.Fatalf("want a retryable error, got %v", err)
		}
		if n := d.proxy.Requests(); n != 1 {
			t.Errorf("%d requests, want 1: the SDK must not retry", n)
		}
		d.proxy.Drop(false)
		if err := s.Deliver(context.Background(), newRecords(2, "s")); err != nil {
			t.Fatalf("deliver after the network is back: %v", err)
		}
		if got := ids(t, d.bodies(t)); len(got) != 2 {
			t.Errorf("stored %v, want the two records once", got)
		}
	})

	t.Run("ConnectionRefused", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c := &Config{Stream: "s", AWS: awsconf.Config{Region: testRegion, Endpoint: "http://" + addr, AccessKeyID: "a", SecretAccessKey: "b"}}
		err = open(t, c).Deliver(context.Background(), newRecords(1, "s"))
		if err == nil || sluice.IsPermanent(err) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("want a retryable connection refused, got %v", err)
		}
	})

	t.Run("AnswerLost", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		d.proxy.Lose(true)
		s := open(t, d.config())
		records := newRecords(2, "s")
		if err := s.Deliver(context.Background(), records); err == nil || sluice.IsPermanent(err) {
			t.Fatalf("want a retryable error, got %v", err)
		}
		d.proxy.Lose(false)
		if err := s.Deliver(context.Background(), records); err != nil {
			t.Fatalf("deliver again: %v", err)
		}
		// Stored, then stored again: at-least-once, and the event ids let
		// a reader deduplicate.
		if got := ids(t, d.bodies(t)); !slices.Equal(got, []string{"ev-0", "ev-1", "ev-0", "ev-1"}) {
			t.Errorf("stored %v", got)
		}
	})

	t.Run("Stalled", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		c := d.config()
		c.Timeout = 300 * time.Millisecond
		d.proxy.Stall()
		start := time.Now()
		err := open(t, c).Deliver(context.Background(), newRecords(1, "s"))
		if err == nil || sluice.IsPermanent(err) || !strings.Contains(err.Error(), "no answer within 300ms") {
			t.Fatalf("want a retryable timeout, got %v", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("returned after %s", el)
		}
	})

	t.Run("ContextCanceled", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		d.proxy.Stall()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		s := open(t, d.config())
		go func() { done <- s.Deliver(ctx, newRecords(1, "s")) }()
		// The request reaches the proxy, then the runner gives up.
		testutil.Eventually(t, 10*time.Second, func() bool { return d.proxy.Held() > 0 }, "the request stalled at the proxy")
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("want context.Canceled, got %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Deliver did not return after its context was canceled")
		}
	})
}
