package kafka

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// newRecords makes n stored events, ids ev-0…, of the streams in turn,
// with their bodies as the runner hands them over.
func newRecords(n int, streams ...string) []sluice.SinkRecord {
	recs := make([]sluice.SinkRecord, n)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for i := range recs {
		e := &sluice.Event{ID: fmt.Sprintf("ev-%d", i), Type: "page.viewed", Stream: streams[i%len(streams)], Source: "web",
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d,"user":{"id":"u-%d"}}`, i, i%2)), Position: sluice.Position(i + 1),
			Version: uint64(i/len(streams) + 1), RecordedAt: at.Add(time.Duration(i) * time.Millisecond)}
		recs[i] = sluice.SinkRecord{Event: e, Body: e.AppendJSON(nil)}
	}
	return recs
}

// open opens the sink of c and closes it when tb ends.
func open(tb testing.TB, c *Config) *Sink {
	tb.Helper()
	return sinktest.Open[*Sink](tb, c, sink.Env{Name: "test"})
}

// header returns the value of r's header key.
func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// failedIndexes returns the indexes of the failed records of a
// DeliveryError, and whether every one of them is permanent (perm) or
// none is.
func failedIndexes(t *testing.T, err error, perm bool) []int {
	t.Helper()
	var de *sluice.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("want a *sluice.DeliveryError, got %v", err)
	}
	var idx []int
	for _, f := range de.Failed {
		if sluice.IsPermanent(f.Err) != perm {
			t.Errorf("record %d: permanent %v, want %v: %v", f.Index, sluice.IsPermanent(f.Err), perm, f.Err)
		}
		idx = append(idx, f.Index)
	}
	return idx
}

// wholeBatch fails the test unless err fails the whole batch, retryably.
func wholeBatch(t *testing.T, err error) {
	t.Helper()
	var de *sluice.DeliveryError
	if err == nil || errors.As(err, &de) || sluice.IsPermanent(err) {
		t.Fatalf("want a retryable error for the whole batch, got %v", err)
	}
}

// ids returns the Sluice-Id headers of the records.
func ids(recs []*kgo.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, header(r, HeaderID))
	}
	return out
}

func TestSink_Deliver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Records", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 4)
		s := open(t, d.config())
		in := newRecords(12, "order-1", "order-2", "order-3")
		if err := s.Deliver(ctx, in); err != nil {
			t.Fatal(err)
		}
		got := d.records(t)
		if len(got) != len(in) {
			t.Fatalf("the topic holds %d records, want %d", len(got), len(in))
		}
		partition := map[string]int32{}
		last := map[string]int{}
		for _, r := range got {
			n := slices.IndexFunc(in, func(x sluice.SinkRecord) bool { return x.Event.ID == header(r, HeaderID) })
			if n < 0 {
				t.Fatalf("a record of no event: %v", r.Headers)
			}
			e := in[n].Event
			want := map[string]string{HeaderType: e.Type, HeaderStream: e.Stream,
				HeaderPosition: fmt.Sprint(e.Position), HeaderVersion: fmt.Sprint(e.Version)}
			for k, v := range want {
				if h := header(r, k); h != v {
					t.Errorf("%s: header %s %q, want %q", e.ID, k, h, v)
				}
			}
			if string(r.Key) != e.Stream || string(r.Value) != string(in[n].Body) {
				t.Errorf("%s: key %q, value %s", e.ID, r.Key, r.Value)
			}
			if time.Since(r.Timestamp) > time.Minute {
				t.Errorf("%s: timestamp %v, want the time it was produced", e.ID, r.Timestamp)
			}
			if p, ok := partition[e.Stream]; ok && p != r.Partition {
				t.Errorf("stream %s in partitions %d and %d", e.Stream, p, r.Partition)
			}
			partition[e.Stream] = r.Partition
			if n < last[e.Stream] {
				t.Errorf("%s after a later event of its stream", e.ID)
			}
			last[e.Stream] = n
		}
	})

	t.Run("KeyFromData", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 2)
		c := d.config()
		c.Key = "data.user.id"
		if err := open(t, c).Deliver(ctx, newRecords(4, "s")); err != nil {
			t.Fatal(err)
		}
		for _, r := range d.records(t) {
			if want := map[string]string{"ev-0": "u-0", "ev-1": "u-1", "ev-2": "u-0", "ev-3": "u-1"}[header(r, HeaderID)]; string(r.Key) != want {
				t.Errorf("%s: key %q, want %q", header(r, HeaderID), r.Key, want)
			}
		}
	})

	t.Run("EmptyBody", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		recs := newRecords(1, "s")
		recs[0].Body = nil
		if err := open(t, d.config()).Deliver(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if r := d.records(t)[0]; r.Value == nil || len(r.Value) != 0 {
			t.Errorf("value %q (nil %v), want empty: nil is a tombstone", r.Value, r.Value == nil)
		}
	})

	t.Run("SnappyByDefault", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		var codecs atomic.Int32 // the attributes' codec bits, or-ed
		d.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
			d.cluster.KeepControl()
			for _, tp := range req.(*kmsg.ProduceRequest).Topics {
				for _, p := range tp.Partitions {
					var b kmsg.RecordBatch
					if b.ReadFrom(p.Records) == nil {
						codecs.Or(int32(b.Attributes & 7))
					}
				}
			}
			return nil, nil, false
		})
		c := d.config()
		c.Compression = ""
		if err := open(t, c).Deliver(ctx, newRecords(50, "s")); err != nil {
			t.Fatal(err)
		}
		if got := codecs.Load(); got != 2 {
			t.Errorf("codec %d, want 2 (snappy)", got)
		}
		if n := len(d.records(t)); n != 50 {
			t.Errorf("read back %d records", n)
		}
	})
}

func TestSink_Failures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Streams a and d go to different partitions of two.
	apart := func(t *testing.T, d *destination, s *Sink) {
		t.Helper()
		if err := s.Deliver(ctx, newRecords(2, "a", "d")); err != nil {
			t.Fatal(err)
		}
		if got := d.records(t); got[0].Partition == got[1].Partition {
			t.Fatalf("streams a and d share partition %d: pick other names", got[0].Partition)
		}
	}

	t.Run("PartitionFailsRetryably", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 2)
		s := open(t, d.config())
		apart(t, d, s)
		recs := newRecords(6, "a", "d")
		for i := range recs {
			recs[i].Event.ID = fmt.Sprintf("x-%d", i)
		}
		// The first record of stream a fails its partition batch once.
		// franz-go may have split the stream's records over several
		// batches (linger 0): the later ones may go, or fail with it.
		d.Flaky([]string{"x-0"}, 1)
		err := s.Deliver(ctx, recs)
		failed := failedIndexes(t, err, false)
		if len(failed) == 0 || failed[0] != 0 || slices.ContainsFunc(failed, func(i int) bool { return i%2 == 1 }) {
			t.Fatalf("failed %v, want record 0 and maybe later ones of stream a, none of stream d: %v", failed, err)
		}
		if !strings.Contains(err.Error(), "NOT_ENOUGH_REPLICAS") {
			t.Errorf("the error does not say what the broker answered: %v", err)
		}
		var again []sluice.SinkRecord
		for _, i := range failed {
			again = append(again, recs[i])
		}
		if err := s.Deliver(ctx, again); err != nil {
			t.Fatalf("again: %v", err)
		}
		got := ids(d.records(t))
		for _, r := range recs {
			if n := slices.Index(got, r.Event.ID); n < 0 || slices.Index(got[n+1:], r.Event.ID) >= 0 {
				t.Errorf("the topic holds %v, want each x- record once", got)
				break
			}
		}
	})

	// franz-go's own retry waits for a metadata refresh, which comes at
	// most every 5s (its MetadataMinAge): each failure here costs 5s.
	t.Run("RecordRetries", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		c := d.config()
		c.RecordRetries = 1
		s := open(t, c)
		d.Flaky([]string{"ev-1"}, 1)
		if err := s.Deliver(ctx, newRecords(3, "a")); err != nil {
			t.Fatalf("one failure within record_retries: 1: %v", err)
		}
		d.Flaky([]string{"ev-9"}, 2)
		wholeBatch(t, s.Deliver(ctx, []sluice.SinkRecord{{Event: &sluice.Event{ID: "ev-9", Stream: "a"}, Body: []byte(`{}`)}}))
		if got := ids(d.records(t)); !slices.Equal(got, []string{"ev-0", "ev-1", "ev-2"}) {
			t.Errorf("the topic holds %v, want the first batch only", got)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 2)
		s := open(t, d.config())
		apart(t, d, s)
		recs := newRecords(4, "a", "d")
		for i := range recs {
			recs[i].Event.ID = fmt.Sprintf("y-%d", i)
		}
		d.Refuse([]string{"y-1"}) // the first of stream d
		err := s.Deliver(ctx, recs)
		if got := failedIndexes(t, err, true); len(got) == 0 || got[0] != 1 || slices.ContainsFunc(got, func(i int) bool { return i%2 == 0 }) {
			t.Fatalf("failed %v, want record 1 (and maybe 3, of its stream) for good, none of stream a: %v", got, err)
		}
		if !strings.Contains(err.Error(), "INVALID_RECORD") {
			t.Errorf("the error does not say what the broker answered: %v", err)
		}
	})

	t.Run("TooLargeForTheClient", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		c := d.config()
		c.MaxMessageBytes = 1024
		s := open(t, c)
		recs := newRecords(3, "a")
		recs[1].Body = []byte(`"` + strings.Repeat("x", 1000) + `"`) // with its key and headers, over 1024
		err := s.Deliver(ctx, recs)
		if got := failedIndexes(t, err, true); !slices.Equal(got, []int{1}) {
			t.Fatalf("failed %v, want the large record for good: %v", got, err)
		}
		if !strings.Contains(err.Error(), "MESSAGE_TOO_LARGE") {
			t.Errorf("the error does not say why: %v", err)
		}
		if got := ids(d.records(t)); !slices.Equal(got, []string{"ev-0", "ev-2"}) {
			t.Errorf("the topic holds %v, want the two others", got)
		}
	})

	t.Run("TooLargeForTheBroker", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "2048"}))
		s := open(t, d.config())
		recs := newRecords(1, "a")
		recs[0].Body = []byte(`"` + strings.Repeat("x", 4000) + `"`)
		if got := failedIndexes(t, s.Deliver(ctx, recs), true); !slices.Equal(got, []int{0}) {
			t.Fatalf("failed %v, want the record for good", got)
		}
	})

	t.Run("Outage", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 2)
		s := open(t, d.config())
		d.Outage(true)
		wholeBatch(t, s.Deliver(ctx, newRecords(4, "a", "b")))
		d.Outage(false)
		if err := s.Deliver(ctx, newRecords(4, "a", "b")); err != nil {
			t.Fatalf("after the outage: %v", err)
		}
	})

	t.Run("UnknownTopic", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		c := d.config()
		c.Topic = "no-such-topic"
		err := open(t, c).Deliver(ctx, newRecords(2, "a"))
		wholeBatch(t, err)
		if !strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
			t.Errorf("the error does not say why: %v", err)
		}
	})

	t.Run("BrokerGone", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		c := d.config()
		c.Timeout = time.Second
		s := open(t, c)
		if err := s.Deliver(ctx, newRecords(1, "a")); err != nil {
			t.Fatal(err)
		}
		d.cluster.Close()
		start := time.Now()
		err := s.Deliver(ctx, newRecords(2, "a"))
		wholeBatch(t, err)
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("returned after %v, with a timeout of 1s", el)
		}
		t.Logf("with the broker gone: %v", err)
	})

	t.Run("Stalled", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		c := d.config()
		c.Timeout = time.Second
		s := open(t, c)
		stall(d)
		start := time.Now()
		err := s.Deliver(ctx, newRecords(2, "a"))
		wholeBatch(t, err)
		if !strings.Contains(err.Error(), "no answer within the timeout (1s)") {
			t.Errorf("the error does not say the timeout passed: %v", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("returned after %v", el)
		}
	})

	t.Run("ContextCanceled", func(t *testing.T) {
		t.Parallel()
		d := newDestination(t, 1)
		s := open(t, d.config())
		held := stall(d)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Deliver(cctx, newRecords(2, "a")) }()
		testutil.Eventually(t, 10*time.Second, func() bool { return held.Load() > 0 }, "the produce request did not reach the broker")
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

// stall makes the cluster leave every produce request unanswered from now
// on; it returns how many it held.
func stall(d *destination) *atomic.Int32 {
	var held atomic.Int32
	d.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		d.cluster.KeepControl()
		held.Add(1)
		return nil, nil, true
	})
	return &held
}

func TestSink_Auth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			d := newDestination(t, 1, kfake.EnableSASL(), kfake.Superuser(mech, "sluice", "s3cret"))
			c := d.config()
			c.SASL = SASL{Mechanism: mech, Username: "sluice", Password: "s3cret"}
			if err := open(t, c).Deliver(ctx, newRecords(2, "a")); err != nil {
				t.Fatalf("with the right password: %v", err)
			}
			c.SASL.Password = "wrong"
			c.Timeout = 2 * time.Second
			err := open(t, c).Deliver(ctx, newRecords(2, "a"))
			wholeBatch(t, err)
			t.Logf("with a wrong password: %v", err)
		})
	}

	t.Run("TLS", func(t *testing.T) {
		t.Parallel()
		pki := testutil.NewPKI(t)
		cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
		if err != nil {
			t.Fatal(err)
		}
		d := newDestination(t, 1, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
		c := d.config()
		c.TLS = TLS{TLS: sink.TLS{CAFile: pki.CA}}
		trust, err := c.TLS.Config()
		if err != nil {
			t.Fatal(err)
		}
		d.readerOpts = []kgo.Opt{kgo.DialTLSConfig(trust)}
		if err := open(t, c).Deliver(ctx, newRecords(2, "a")); err != nil {
			t.Fatalf("with the CA: %v", err)
		}
		c.TLS.ServerName = "localhost" // the certificate's other name
		if err := open(t, c).Deliver(ctx, newRecords(2, "a")); err != nil {
			t.Fatalf("with server_name: localhost: %v", err)
		}
		c.Timeout = 2 * time.Second
		for _, bad := range []TLS{
			{Enabled: true}, // the system's roots do not know the test CA
			{TLS: sink.TLS{CAFile: pki.CA}, ServerName: "kafka.example.com"},
		} {
			c.TLS = bad
			err = open(t, c).Deliver(ctx, newRecords(2, "a"))
			wholeBatch(t, err)
			if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("tls %+v: the error does not name the certificate: %v", bad, err)
			}
		}
		if n := len(d.records(t)); n != 4 {
			t.Errorf("the topic holds %d records, want 4", n)
		}
	})
}

// TestSink_UnderTheRunner: through the real runner, with partitions that
// fail now and then, the topic holds each record once per delivery the
// runner counted (none that Deliver reported failed, none lost), every
// event at least once, and each stream's last deliveries in log order.
func TestSink_UnderTheRunner(t *testing.T) {
	t.Parallel()
	d := newDestination(t, 8)
	var evs []sluice.Event
	var flaky []string
	for i := range 600 {
		id := fmt.Sprintf("run-%03d", i)
		evs = append(evs, sluice.Event{ID: id, Type: "t", Stream: fmt.Sprintf("s-%d", i%20), Data: json.RawMessage(`{}`)})
		if i%37 == 5 {
			flaky = append(flaky, id)
		}
	}
	d.Flaky(flaky, 2)
	store := backends.SQLite(t)
	ctx := context.Background()
	for chunk := range slices.Chunk(evs, 50) {
		if _, err := store.Append(ctx, []sluice.AppendRequest{{Events: chunk}}); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := store.Head(ctx)
	cfg := sink.Config{Name: "runner", Type: "kafka", Batch: sink.Batch{MaxEvents: 40},
		Retry:   sink.Retry{MaxAttempts: 100, MaxAge: time.Hour, InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond},
		Breaker: sink.Breaker{Failures: 1000}}
	c := d.config()
	r, err := sink.NewRunner(store, open(t, c), cfg, c.Limits(), sink.RunnerOptions{Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	testutil.Eventually(t, 30*time.Second, func() bool {
		cp, err := store.Checkpoint(ctx, sluice.SinkConsumer(cfg.Name))
		return err == nil && cp == head
	}, "the checkpoint did not reach the head")
	cancel()
	<-done
	st := r.Stats()
	got := d.records(t)
	if st.Counts.Failed == 0 || st.Counts.DeadLettered != 0 {
		t.Fatalf("counts %+v: want failures, all retried", st.Counts)
	}
	if uint64(len(got)) != st.Counts.Delivered {
		t.Errorf("the topic holds %d records, the runner counted %d delivered", len(got), st.Counts.Delivered)
	}
	last := map[string]int{}
	for i, rec := range got {
		last[header(rec, HeaderID)] = i
	}
	if len(last) != len(evs) {
		t.Fatalf("%d of %d events in the topic", len(last), len(evs))
	}
	prev := map[string]int{} // per stream, the position of the last delivery seen
	for i, rec := range got {
		id := header(rec, HeaderID)
		if last[id] != i {
			continue
		}
		stream := header(rec, HeaderStream)
		pos, _ := strconv.Atoi(header(rec, HeaderPosition))
		if pos < prev[stream] {
			t.Fatalf("stream %s: the last delivery of position %d after that of %d", stream, pos, prev[stream])
		}
		prev[stream] = pos
	}
	t.Logf("%d events, %d deliveries, %d failed attempts", len(evs), len(got), st.Counts.Failed)
}
