package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/sqlite"
	"github.com/sluicehq/sluice/storetest"
)

// BenchmarkHTTP measures ingest over real HTTP on loopback, 64 connections,
// against the machine's HTTP ceiling in the same run: a bare net/http
// handler that reads the body and answers 202 (Bare). Run them together:
//
//	go test -run '^$' -bench HTTP -benchtime 5s ./httpapi/
//
// Each reports requests/s, events/s, p99 latency and the process's peak
// resident memory (load generator included).
func BenchmarkHTTP(b *testing.B) {
	// Bodies are sent many times, so their events carry no id (the server
	// gives each a new one): every request stores new events.
	event := func(i int) sluice.Event {
		e := storetest.BenchEvent(i)
		e.ID = ""
		return e
	}
	single := func(i int) []byte {
		body, _ := json.Marshal(event(i))
		return body
	}
	batch := func(i int) []byte {
		evs := make([]sluice.Event, 500)
		for j := range evs {
			evs[j] = event(i*500 + j)
		}
		body, _ := json.Marshal(evs)
		return body
	}
	b.Run("Bare", func(b *testing.B) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusAccepted)
		})
		load(b, h, "", single, 1)
	})
	b.Run("IngestSingleDurable", func(b *testing.B) { load(b, sluiceHandler(b), "/v1/events", single, 1) })
	b.Run("IngestSingleAsync", func(b *testing.B) { load(b, sluiceHandler(b), "/v1/events?ack=async", single, 1) })
	b.Run("IngestBatch500Durable", func(b *testing.B) { load(b, sluiceHandler(b), "/v1/events", batch, 500) })
	b.Run("IngestBatch500DurableSchema", func(b *testing.B) {
		h := sluiceHandler(b)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", "/v1/schemas/page.viewed", bytes.NewReader(bench.Schema(bench.KindPageView)))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("register schema: %d %s", rec.Code, rec.Body)
		}
		load(b, h, "/v1/events", batch, 500)
	})
}

// trackCall is a typical track call of analytics.js, about 600 bytes.
func trackCall(i int) string {
	return fmt.Sprintf(`{"type":"track","event":"Product Viewed","userId":"user-%d","anonymousId":"%08x-5f2e-4c1a-9d3b-7a6e4f2c1b0d",`+
		`"properties":{"product_id":"sku-%d","name":"Trail Running Shoe","price":129.95,"currency":"EUR","category":"Shoes"},`+
		`"context":{"library":{"name":"analytics.js","version":"next-1.84.3"},"locale":"en-GB","timezone":"Europe/Berlin",`+
		`"page":{"path":"/shoes/trail","referrer":"https://www.example.com/","title":"Trail Running Shoe","url":"https://shop.example.com/shoes/trail"},`+
		`"userAgent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},`+
		`"integrations":{},"timestamp":"2026-11-28T09:00:00.000Z"}`, i%5000, i, i%300)
}

// BenchmarkSegment measures POST /v1/batch with 100 track calls of about
// 600 bytes against the same events sent to POST /v1/events as envelopes
// (type and stream as the Segment mapping gives them, the call as data),
// durable, in the same run:
//
//	go test -run '^$' -bench Segment -benchtime 20000x -count 3 -p 1 ./httpapi/
//
// Each reports events/s and the process's CPU seconds per million events
// (the load generator's included: both share the process).
func BenchmarkSegment(b *testing.B) {
	const n = 100
	segment := func(i int) []byte {
		calls := make([]string, n)
		for j := range calls {
			calls[j] = trackCall(i*n + j)
		}
		return []byte(`{"batch":[` + strings.Join(calls, ",") + `],"sentAt":"2026-11-28T09:00:01.000Z"}`)
	}
	native := func(i int) []byte {
		evs := make([]string, n)
		for j := range evs {
			k := i*n + j
			evs[j] = fmt.Sprintf(`{"type":"segment.track.Product_Viewed","stream":"user-user-%d","time":"2026-11-28T09:00:00.000Z","data":%s}`, k%5000, trackCall(k))
		}
		return []byte("[" + strings.Join(evs, ",") + "]")
	}
	b.Run("EventsBatch100Durable", func(b *testing.B) { load(b, sluiceHandler(b), "/v1/events", native, n) })
	b.Run("SegmentBatch100Durable", func(b *testing.B) { load(b, sluiceHandler(b), "/v1/batch", segment, n) })
}

// sluiceHandler is the API over the embedded store in a temporary directory.
func sluiceHandler(b *testing.B, opts ...httpapi.Option) http.Handler {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	// The benchmark measures throughput, not admission: on a loaded machine
	// a commit may outlast the default queue delay, and the refusals would
	// fail the run.
	w := sluice.NewWriter(s, sluice.WriterOptions{MaxQueueDelay: time.Minute})
	b.Cleanup(func() {
		w.Close(context.Background())
		s.Close()
	})
	srv, err := httpapi.New(s, w, newRegistry(b, s), testConfig(), nil, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// load sends POSTs of body(i) to target (a path and query) over 64
// connections for b.N requests.
func load(b *testing.B, h http.Handler, target string, body func(int) []byte, eventsPerRequest int) {
	ts := httptest.NewServer(h)
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	bodies := make([][]byte, 256) // made before the clock starts
	for i := range bodies {
		bodies[i] = body(i)
	}
	var mu sync.Mutex
	var latencies []time.Duration
	var failed int
	b.SetParallelism(32) // 32 × GOMAXPROCS (2 here): 64 connections
	cpu := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		i := 0
		for pb.Next() {
			i++
			req, _ := http.NewRequest("POST", ts.URL+target, bytes.NewReader(bodies[i%len(bodies)]))
			req.Header.Set("Authorization", "Bearer "+writeKey)
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mine = append(mine, time.Since(start))
			if resp.StatusCode >= 300 {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	cpu = cpuTime() - cpu
	if failed > 0 {
		b.Errorf("%d requests failed", failed)
	}
	slices.Sort(latencies)
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "req/s")
	b.ReportMetric(float64(b.N*eventsPerRequest)/secs, "events/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N*eventsPerRequest)*1e6, "cpu-s/Mevents")
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
	reportCommits(b, ts.URL)
}

// reportCommits reports the mean events per group commit and the mean
// commit time from the server's /metrics (the bare handler has none).
func reportCommits(b *testing.B, url string) {
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	values := map[string]float64{}
	for line := range strings.SplitSeq(string(text), "\n") {
		if name, v, ok := strings.Cut(line, " "); ok && strings.HasPrefix(name, "sluice_commit_") {
			values[name], _ = strconv.ParseFloat(v, 64)
		}
	}
	if n := values["sluice_commit_events_count"]; n > 0 {
		b.ReportMetric(values["sluice_commit_events_sum"]/n, "events/commit")
		b.ReportMetric(values["sluice_commit_duration_seconds_sum"]/n*1000, "commit-ms")
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMiB is the process's peak resident memory (VmHWM).
func peakRSSMiB() float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}
