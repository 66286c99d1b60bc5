package bench_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/internal/testutil"
)

// recorder is a real HTTP server that keeps what it was sent and answers
// with the status that answer gives for the nth request (from 0).
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	n        atomic.Int64
	bodies   [][]byte
	queries  []string
	auth     []string
	answer   func(n int64, w http.ResponseWriter) int
	keepBody bool
}

func newRecorder(t *testing.T, keepBody bool, answer func(n int64, w http.ResponseWriter) int) *recorder {
	t.Helper()
	rec := &recorder{answer: answer, keepBody: keepBody}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := rec.n.Add(1) - 1
		rec.mu.Lock()
		if rec.keepBody {
			rec.bodies = append(rec.bodies, body)
		}
		rec.queries = append(rec.queries, r.URL.RawQuery)
		rec.auth = append(rec.auth, r.Header.Get("Authorization"))
		rec.mu.Unlock()
		status := http.StatusOK
		if rec.answer != nil {
			status = rec.answer(n, w)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func TestRun_Batches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name              string
		batch, events     int
		requests, perBody int
	}{
		{"Single", 0, 7, 7, 1},
		{"One", 1, 3, 3, 1},
		{"Ten", 10, 95, 10, 10},
		{"FiveHundred", 500, 1000, 2, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, true, nil)
			res, err := bench.Run(context.Background(), bench.Config{URL: srv.URL + "/v1/events", Key: "sk_write_x", Batch: tc.batch, Events: tc.events, Connections: 4})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != tc.requests || res.Events != tc.requests*tc.perBody || res.Status[200] != tc.requests {
				t.Fatalf("result %+v, want %d requests of %d events, all 200", res, tc.requests, tc.perBody)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if len(srv.bodies) != tc.requests {
				t.Fatalf("the server got %d requests, want %d", len(srv.bodies), tc.requests)
			}
			for i, body := range srv.bodies {
				if srv.auth[i] != "Bearer sk_write_x" || srv.queries[i] != "" {
					t.Fatalf("request %d: Authorization %q, query %q", i, srv.auth[i], srv.queries[i])
				}
				if tc.perBody == 1 {
					var e map[string]json.RawMessage
					if err := json.Unmarshal(body, &e); err != nil || e["type"] == nil || e["data"] == nil || e["id"] != nil {
						t.Fatalf("request %d: body %s is not one envelope without an id (%v)", i, body, err)
					}
					continue
				}
				var es []map[string]json.RawMessage
				if err := json.Unmarshal(body, &es); err != nil || len(es) != tc.perBody {
					t.Fatalf("request %d: %d events (%v), want an array of %d", i, len(es), err, tc.perBody)
				}
			}
			if ratio := res.EventsPerSec / res.RequestsPerSec; res.RequestsPerSec <= 0 || ratio < float64(tc.perBody)-1e-6 || ratio > float64(tc.perBody)+1e-6 {
				t.Errorf("rates %v req/s, %v events/s", res.RequestsPerSec, res.EventsPerSec)
			}
			if res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max || res.AcceptedLatency != res.Latency {
				t.Errorf("latencies %+v, accepted %+v", res.Latency, res.AcceptedLatency)
			}
			sum := 0
			for _, n := range res.PerSecond {
				sum += n
			}
			if sum != res.Events {
				t.Errorf("the timeline %v sums to %d, want %d", res.PerSecond, sum, res.Events)
			}
		})
	}
}

func TestRun_Async(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, false, func(int64, http.ResponseWriter) int { return http.StatusAccepted })
	res, err := bench.Run(context.Background(), bench.Config{URL: srv.URL + "/v1/events?atomic=true", Async: true, Events: 5})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status[http.StatusAccepted] != 5 || res.Events != 5 {
		t.Fatalf("result %+v, want 5 answers 202", res)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, q := range srv.queries {
		if q != "ack=async&atomic=true" {
			t.Fatalf("query %q, want ack=async&atomic=true", q)
		}
	}
}

// TestRun_Rate: the rate limiter's count over a short run. Speed is not
// asserted; the bounds are generous.
func TestRun_Rate(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, false, nil)
	var progress strings.Builder
	res, err := bench.Run(context.Background(), bench.Config{URL: srv.URL, Rate: 200, Duration: 1500 * time.Millisecond, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests > 450 || res.Requests < 100 {
		t.Fatalf("%d requests in 1.5s at 200/s, want about 300", res.Requests)
	}
	if int(srv.n.Load()) != res.Requests {
		t.Fatalf("the server got %d requests, Run says %d", srv.n.Load(), res.Requests)
	}
	if !strings.Contains(progress.String(), "events/s") {
		t.Fatalf("no progress line in %q", progress.String())
	}

	// A rate the server cannot follow: the run still ends at Duration,
	// not once every request due before it has gone.
	t.Run("BehindStopsAtDuration", func(t *testing.T) {
		t.Parallel()
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(20 * time.Millisecond) // a slow server, 50 requests/s per connection
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(slow.Close)
		res, err := bench.Run(context.Background(), bench.Config{URL: slow.URL, Rate: 5000, Connections: 2, Duration: 300 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.Elapsed > time.Second || res.Late == 0 {
			t.Fatalf("ran %s with %d late requests, want to stop near 300ms with late ones", res.Elapsed, res.Late)
		}
	})
	t.Run("EventsFirst", func(t *testing.T) {
		t.Parallel()
		srv := newRecorder(t, false, nil)
		res, err := bench.Run(context.Background(), bench.Config{URL: srv.URL, Rate: 1000, Duration: time.Minute, Events: 20})
		if err != nil || res.Requests != 20 {
			t.Fatalf("%d requests (%v), want 20", res.Requests, err)
		}
	})
}

func TestRun_Status(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, false, func(n int64, w http.ResponseWriter) int {
		switch n % 4 {
		case 1:
			return http.StatusBadRequest
		case 2:
			w.Header().Set("Retry-After", "1")
			return http.StatusServiceUnavailable
		case 3:
			return http.StatusTooManyRequests // without Retry-After
		}
		return http.StatusOK
	})
	res, err := bench.Run(context.Background(), bench.Config{URL: srv.URL, Events: 40, Connections: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]int{200: 10, 400: 10, 503: 10, 429: 10}
	for code, n := range want {
		if res.Status[code] != n {
			t.Fatalf("status %v, want %v", res.Status, want)
		}
	}
	if res.MissingRetryAfter != 10 || res.Errors() != 30 {
		t.Fatalf("%d answers without Retry-After, %d errors; want 10 and 30", res.MissingRetryAfter, res.Errors())
	}
	if res.RequestsPerSec*res.Elapsed.Seconds() < 9.9 || res.RequestsPerSec*res.Elapsed.Seconds() > 10.1 {
		t.Fatalf("%v accepted requests/s over %v: want 10 accepted", res.RequestsPerSec, res.Elapsed)
	}

	t.Run("TransportErrors", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		res, err := bench.Run(context.Background(), bench.Config{URL: "http://" + addr + "/v1/events", Events: 3, Connections: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status[0] != 3 || res.Requests != 3 || res.RequestsPerSec != 0 {
			t.Fatalf("result %+v, want 3 transport errors", res)
		}
	})
}

func TestRun_Cancel(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, false, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var res bench.Result
	var err error
	go func() {
		defer close(done)
		res, err = bench.Run(ctx, bench.Config{URL: srv.URL, Duration: time.Hour, Connections: 2})
	}()
	testutil.Eventually(t, 10*time.Second, func() bool { return srv.n.Load() >= 10 }, "the server gets 10 requests")
	cancel()
	<-done
	// Each of the 2 connections may have had a request cut short: not counted.
	if !errors.Is(err, context.Canceled) || res.Requests < 8 || res.Status[0] != 0 {
		t.Fatalf("Run returned %v with %+v; want context.Canceled, at least 8 requests, no transport error", err, res)
	}
}

func TestRun_InvalidShare(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, true, nil)
	_, err := bench.Run(context.Background(), bench.Config{URL: srv.URL, Kind: bench.KindOrder, Batch: 20, Events: 200, Invalid: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	invalid := 0
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, body := range srv.bodies {
		var es []envelope
		if err := json.Unmarshal(body, &es); err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if _, vs := reg.Validate(e.Type, e.Data); len(vs) > 0 {
				invalid++
			}
		}
	}
	if invalid != 20 {
		t.Fatalf("%d of 200 events invalid, want 20", invalid)
	}
}

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	err := bench.Config{URL: "ftp://x", Batch: -1, Rate: -1, Kind: "frob", Invalid: 1.5}.Validate()
	for _, want := range []string{"url:", "batch:", "rate:", "kind:", "invalid:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	if err := (bench.Config{URL: "http://127.0.0.1:7070/v1/events"}).Validate(); err != nil {
		t.Errorf("a URL alone: %v", err)
	}
	if _, err := bench.Run(context.Background(), bench.Config{}); err == nil {
		t.Errorf("Run without a URL: no error")
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.8: "1,234,568", -12345: "-12,345"} {
		if got := bench.Thousands(v); got != want {
			t.Errorf("Thousands(%v) = %q, want %q", v, got, want)
		}
	}
}
