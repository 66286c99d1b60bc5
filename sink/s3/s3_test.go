package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// records makes n records at positions from.., committed at at, with
// bodies of their stored JSON; pad adds that many random characters to
// each event's data (incompressible, for large objects).
func records(from sluice.Position, n int, at time.Time, pad int) []sluice.SinkRecord {
	out := make([]sluice.SinkRecord, n)
	for i := range out {
		filler := make([]byte, pad*3/4)
		rand.Read(filler)
		ev := &sluice.Event{ID: fmt.Sprintf("ev-%d", int(from)+i), Type: "t", Stream: "s", Position: from + sluice.Position(i), Version: uint64(i + 1),
			RecordedAt: at, Data: json.RawMessage(fmt.Sprintf(`{"pad":%q}`, base64.StdEncoding.EncodeToString(filler)))}
		out[i] = sluice.SinkRecord{Event: ev, Body: ev.AppendJSON(nil)}
	}
	return out
}

// open opens the sink of cfg as node-1 and closes it when t ends.
func open(t testing.TB, cfg *Config) sluice.Sink {
	t.Helper()
	return sinktest.Open[sluice.Sink](t, cfg, sink.Env{Name: "archive", Node: "node-1"})
}

// bodies returns the records' bodies.
func bodies(recs []sluice.SinkRecord) [][]byte {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.Body
	}
	return out
}

// requests counts the requests the fake gets, by what they do.
type requests struct{ put, create, part, complete, abort atomic.Int64 }

func (d *destination) count() *requests {
	var n requests
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hold = func(r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPost && q.Has("uploads"):
			n.create.Add(1)
		case r.Method == http.MethodPut && q.Has("partNumber"):
			n.part.Add(1)
		case r.Method == http.MethodPost && q.Has("uploadId"):
			n.complete.Add(1)
		case r.Method == http.MethodDelete && q.Has("uploadId"):
			n.abort.Add(1)
		case r.Method == http.MethodPut:
			n.put.Add(1)
		}
	}
	return &n
}

func TestSink_Object(t *testing.T) {
	d := newDestination(t)
	n := d.count()
	s := open(t, d.config("/archive/"))
	at := time.Date(2026, 1, 2, 3, 59, 59, 999, time.FixedZone("CET", 3600))
	recs := records(41, 10, at, 0)
	recs[3].Event.Data = json.RawMessage("{\r\n \"multi\": \"line\"\n}")
	recs[3].Body = recs[3].Event.AppendJSON(nil)
	if err := s.Deliver(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	a := d.archive(t, "archive")
	objs, err := a.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := "archive/date=2026-01-02/hour=02/00000000000000000041_00000000000000000050_node-1.ndjson.gz"
	if len(objs) != 1 || objs[0].Key != want {
		t.Fatalf("objects %+v, want one named %s (the hour of the first event, UTC)", objs, want)
	}
	out, err := a.client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: &a.bucket, Key: &want})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if ct, ce := *out.ContentType, *out.ContentEncoding; ct != contentType || ce != "gzip" {
		t.Fatalf("Content-Type %q, Content-Encoding %q", ct, ce)
	}
	lines := bodies(recs)
	lines[3] = bytes.ReplaceAll(bytes.ReplaceAll(lines[3], []byte("\r"), []byte(" ")), []byte("\n"), []byte(" ")) // one line
	if got := d.lines(t, "archive"); !slices.EqualFunc(got, lines, bytes.Equal) {
		t.Fatalf("the object holds %q, want the records' bodies, each on one line", got)
	}
	if n.put.Load() != 1 || n.create.Load() != 0 {
		t.Fatalf("%d PUTs, %d multipart uploads: want one PUT for an object smaller than a part", n.put.Load(), n.create.Load())
	}
}

// An object that compresses to more than a part goes as a multipart
// upload, its parts sent as they fill; one that fails midway is aborted,
// stores nothing, and the next attempt stores it whole.
func TestSink_Multipart(t *testing.T) {
	d := newDestination(t)
	n := d.count()
	cfg := d.config("mp")
	cfg.PartSize = minPartBytes
	s := open(t, cfg)
	recs := records(1, 1200, time.Now(), 8000) // about 9.6 MB, incompressible
	ctx := context.Background()

	var parts atomic.Int64
	count := d.hold
	d.mu.Lock()
	d.hold = func(r *http.Request) {
		count(r)
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") && parts.Add(1) == 2 {
			d.down.Store(true) // the second part fails
		}
	}
	d.mu.Unlock()
	err := s.Deliver(ctx, recs)
	d.down.Store(false)
	if err == nil || sluice.IsPermanent(err) {
		t.Fatalf("a failed part: %v, want a retryable error", err)
	}
	if got := d.lines(t, "mp"); len(got) != 0 {
		t.Fatalf("%d lines stored after a failed upload", len(got))
	}
	if n.abort.Load() != 1 {
		t.Fatalf("%d aborts of the failed upload, want 1", n.abort.Load())
	}

	if err := s.Deliver(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if got := d.lines(t, "mp"); !slices.EqualFunc(got, bodies(recs), bytes.Equal) {
		t.Fatalf("the object holds %d lines, want the %d records' bodies", len(got), len(recs))
	}
	if n.create.Load() != 2 || n.complete.Load() != 1 || n.part.Load() < 4 || n.put.Load() != 0 {
		t.Fatalf("%d uploads, %d parts, %d completed, %d PUTs: want multipart uploads of 2+ parts", n.create.Load(), n.part.Load(), n.complete.Load(), n.put.Load())
	}
}

func TestSink_Outage(t *testing.T) {
	d := newDestination(t)
	s := open(t, d.config(""))
	d.down.Store(true)
	err := s.Deliver(context.Background(), records(1, 3, time.Now(), 0))
	if err == nil || sluice.IsPermanent(err) || !strings.Contains(err.Error(), "SlowDown") {
		t.Fatalf("during an outage: %v, want a retryable error saying SlowDown", err)
	}
	if bad := (&Config{Bucket: "no-such-bucket", PathStyle: true, AWS: awsconf.Config{Endpoint: d.srv.URL, AccessKeyID: "a", SecretAccessKey: "b"}}); true {
		d.down.Store(false)
		err := open(t, bad).Deliver(context.Background(), records(1, 3, time.Now(), 0))
		if err == nil || sluice.IsPermanent(err) || !strings.Contains(err.Error(), "NoSuchBucket") {
			t.Fatalf("a bucket that does not exist: %v, want a retryable error (an operator creates it) saying NoSuchBucket", err)
		}
	}
}

// Through the runner from the embedded log: the objects hold every event
// once, as stored, in position order, contiguous, and Verify finds no
// problem.
func TestSink_FromTheLog(t *testing.T) {
	d := newDestination(t)
	cfg := d.config("log")
	store := backends.SQLite(t)
	ctx := context.Background()
	for i := 0; i < 3000; i += 300 {
		evs := make([]sluice.Event, 300)
		for j := range evs {
			evs[j] = sluice.Event{Type: "order.placed", Stream: fmt.Sprintf("order-%d", (i+j)%7), Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i+j))}
		}
		if _, err := store.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, cfg)
	r, err := sink.NewRunner(store, s, sink.Config{Name: "archive", Type: "s3", Batch: sink.Batch{MaxBytes: 64 << 10, Linger: 20 * time.Millisecond}}, cfg.Limits(), sink.RunnerOptions{Node: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	defer func() { cancel(); <-done }()
	testutil.Eventually(t, 30*time.Second, func() bool {
		cp, _ := store.Checkpoint(ctx, sluice.SinkConsumer("archive"))
		return cp == 3000
	}, "the checkpoint did not reach the head")

	evs, err := store.ReadLog(ctx, 0, sluice.Filter{}, 5000)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for i := range evs {
		want = append(want, evs[i].AppendJSON(nil))
	}
	if got := d.lines(t, "log"); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("the objects hold %d lines; want the log's %d events as stored, in order", len(got), len(want))
	}
	rep, err := d.archive(t, "log").Verify(ctx, nil)
	if err != nil || len(rep.Problems) != 0 || rep.First != 1 || rep.Last != 3000 || rep.Events != 3000 || rep.Objects < 5 {
		t.Fatalf("verify: %+v %v; want 3000 events 1 to 3000 in objects of 64 KiB, no problem", rep, err)
	}
}
