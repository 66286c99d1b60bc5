package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	b.Run("IngestSingleDurable", func(b *testing.B) { load(b, sluiceHandler(b), "", single, 1) })
	b.Run("IngestSingleAsync", func(b *testing.B) { load(b, sluiceHandler(b), "?ack=async", single, 1) })
	b.Run("IngestBatch500Durable", func(b *testing.B) { load(b, sluiceHandler(b), "", batch, 500) })
	b.Run("IngestBatch500DurableSchema", func(b *testing.B) {
		h := sluiceHandler(b)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", "/v1/schemas/page.viewed", bytes.NewReader(bench.Schema(bench.KindPageView)))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("register schema: %d %s", rec.Code, rec.Body)
		}
		load(b, h, "", batch, 500)
	})
}

// sluiceHandler is the API over the embedded store in a temporary directory.
func sluiceHandler(b *testing.B) http.Handler {
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	w := sluice.NewWriter(s, sluice.WriterOptions{})
	b.Cleanup(func() {
		w.Close(context.Background())
		s.Close()
	})
	srv, err := httpapi.New(s, w, newRegistry(b, s), testConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return srv
}

// load sends POSTs of body(i) to /v1/events+query over 64 connections for
// b.N requests.
func load(b *testing.B, h http.Handler, query string, body func(int) []byte, eventsPerRequest int) {
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
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		i := 0
		for pb.Next() {
			i++
			req, _ := http.NewRequest("POST", ts.URL+"/v1/events"+query, bytes.NewReader(bodies[i%len(bodies)]))
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
	if failed > 0 {
		b.Errorf("%d requests failed", failed)
	}
	slices.Sort(latencies)
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "req/s")
	b.ReportMetric(float64(b.N*eventsPerRequest)/secs, "events/s")
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
