package s3

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/sinktest"
)

// TestConformance runs the sink conformance suite against gofakes3.
func TestConformance(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sinktest.Harness {
		d := newDestination(t)
		return sinktest.Harness{Destination: d.config("archive/events"), Fields: d.fields("archive/events"),
			Received: func(tb testing.TB) [][]byte { return d.lines(tb, "archive/events") },
			Outage:   func(_ testing.TB, on bool) { d.down.Store(on) },
			// Objects close by age in a fraction of the suite's waits.
			Linger: 20 * time.Millisecond}
	}, sinktest.Features{})
}

// TestHarness_Fields: the fields the binary's tests get are the
// configuration the in-process tests run.
func TestHarness_Fields(t *testing.T) {
	d := newDestination(t)
	sinktest.CheckFields(t, sinktest.Harness{Destination: d.config("p"), Fields: d.fields("p")}, "s3")
}

// testBucket is the bucket of every test's fake S3.
const testBucket = "sluice-archive"

// destination is an in-process S3 (gofakes3 over its in-memory backend)
// on a local port, with a fault switch in front of it.
type destination struct {
	srv *httptest.Server
	// down makes every request fail with 503 SlowDown.
	down atomic.Bool
	// hold, when set, is called with each request before it is served
	// (the tests that stop a request midway).
	mu   sync.Mutex
	hold func(*http.Request)
}

func newDestination(tb testing.TB) *destination {
	tb.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(testBucket); err != nil {
		tb.Fatal(err)
	}
	fake := gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0))
	d := &destination{}
	h := fake.Server()
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As S3 does, a request received whole is served even when its
		// client has gone away (a killed sink's last request).
		r = r.WithContext(context.WithoutCancel(r.Context()))
		d.mu.Lock()
		hold := d.hold
		d.mu.Unlock()
		if hold != nil {
			hold(r)
		}
		if d.down.Load() {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		h.ServeHTTP(w, r)
	}))
	tb.Cleanup(d.srv.Close)
	return d
}

// config is a sink configuration for the fake under prefix.
func (d *destination) config(prefix string) *Config {
	return &Config{Bucket: testBucket, Prefix: prefix, PathStyle: true,
		AWS: awsconf.Config{Endpoint: d.srv.URL, Region: "us-east-1", AccessKeyID: "test", SecretAccessKey: "test"}}
}

// fields are config's as a sinks: entry spells them.
func (d *destination) fields(prefix string) map[string]any {
	return map[string]any{"type": "s3", "bucket": testBucket, "prefix": prefix, "endpoint": d.srv.URL, "path_style": true,
		"region": "us-east-1", "access_key_id": "test", "secret_access_key": "test"}
}

// archive returns a reader of the fake under prefix.
func (d *destination) archive(tb testing.TB, prefix string) *Archive {
	tb.Helper()
	a, err := d.config(prefix).Archive(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { a.Close() })
	return a
}

// lines returns every line of every object under prefix, in name order.
func (d *destination) lines(tb testing.TB, prefix string) [][]byte {
	tb.Helper()
	a := d.archive(tb, prefix)
	ctx := context.Background()
	objs, err := a.List(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, o := range objs {
		if err := a.Read(ctx, o.Key, func(b []byte) error { out = append(out, bytes.Clone(b)); return nil }); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}
