package reliability

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/bench"
)

const (
	// overloadRSSLimit bounds the server's peak resident memory under
	// overload.
	overloadRSSLimit = 256 << 20
	// overloadP99Limit bounds the p99 latency of the accepted requests,
	// unless overloadP99Ratio times the p99 sustained before, on a slower
	// machine, is more (see overloadLimit).
	overloadP99Limit = 100 * time.Millisecond
	// overloadP99Ratio is about overloadP99Limit over the p99 of normal
	// load on the machine the limit was set on (about 22 ms, see
	// docs/reliability.md): under ten times the load, the accepted requests
	// queue behind the 64 in flight, so their latency is a multiple of the
	// normal one wherever the test runs.
	overloadP99Ratio = 4
	// overloadDelayTarget is the writer's default max_queue_delay
	// (docs/decisions.md, D94), a bucket of the server's histogram.
	overloadDelayTarget = 100 * time.Millisecond
	// overloadBatch is the events of each request.
	overloadBatch = 10
)

// TestOverload: measure what the server sustains (closed loop, 64
// connections), then offer ten times that rate open-loop over 512
// connections. Every request must be answered (200, or 503/429 with
// Retry-After), the accepted ones with a p99 under 100 ms (or, on a machine
// so slow that normal load has a p99 over 25 ms, four times that), the server's
// peak RSS must stay under 256 MiB, and right after, normal load must be
// served at 80 % of the sustained rate within 2 s.
func TestOverload(t *testing.T) {
	r := report(t, "overload/sqlite")
	measure, duration := 5*time.Second, 10*time.Second
	if full {
		measure, duration = 10*time.Second, 60*time.Second
	}
	var env []string
	if v := os.Getenv("SLUICE_RELIABILITY_MAX_IN_FLIGHT"); v != "" { // to compare settings
		env = append(env, "SLUICE_HTTP_LIMITS_MAX_IN_FLIGHT="+v)
	}
	s := startServer(t, env, "--data", t.TempDir())
	url := ingestURL(s.base)
	ctx := context.Background()

	sustained, err := bench.Run(ctx, bench.Config{URL: url, Key: writeKey, Batch: overloadBatch, Connections: 64, Duration: measure})
	if err != nil {
		t.Fatal(err)
	}
	if sustained.Errors() > 0 || sustained.RequestsPerSec == 0 {
		t.Fatalf("measuring the sustained rate: %d errors, statuses %v", sustained.Errors(), sustained.Status)
	}
	t.Logf("sustained: %.0f requests/s, %.0f events/s, p99 %s, statuses %v", sustained.RequestsPerSec, sustained.EventsPerSec, sustained.Latency.P99, sustained.Status)

	limit := overloadLimit(sustained.Latency.P99)
	s.resetPeak()
	fastBefore, allBefore := ingestLatency(t, s.base, limit)
	targetBefore, _ := ingestLatency(t, s.base, overloadDelayTarget)
	watch := bench.WatchProcess(s.Cmd.Process.Pid)
	// The load generator shares the two cores with the server and cannot
	// send ten times what the server takes: requests it could not send in
	// time count in over.Late, and none starts after Duration.
	over, err := bench.Run(ctx, bench.Config{URL: url, Key: writeKey, Batch: overloadBatch, Connections: 512, Duration: duration, Rate: 10 * sustained.RequestsPerSec, Timeout: 30 * time.Second})
	proc := watch()
	if err != nil {
		t.Fatal(err)
	}
	fastAfter, allAfter := ingestLatency(t, s.base, limit)
	targetAfter, _ := ingestLatency(t, s.base, overloadDelayTarget)
	// The accepted requests' p99 as the server saw it: requests answered in
	// more than the limit, whatever their status, must be at most 1 % of
	// the accepted ones. (The generator's latencies count from when each
	// request was due, and it could not send them on time.)
	slow := (allAfter - allBefore) - (fastAfter - fastBefore)
	after, err := bench.Run(ctx, bench.Config{URL: url, Key: writeKey, Batch: overloadBatch, Connections: 64, Duration: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("overload: %d requests in %s (%.0f/s offered, %d late), statuses %v, latency %+v, accepted %+v, per second %v",
		over.Requests, over.Elapsed, 10*sustained.RequestsPerSec, over.Late, over.Status, over.Latency, over.AcceptedLatency, over.PerSecond)
	t.Logf("after: per second %v, statuses %v", after.PerSecond, after.Status)

	// Every request answered: 200, or 503/429 with Retry-After.
	var bad []string
	for status, n := range over.Status {
		if status != http.StatusOK && status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests {
			bad = append(bad, fmt.Sprintf("%d×%d", n, status))
		}
	}
	slices.Sort(bad)
	if len(bad) > 0 {
		t.Errorf("answers other than 200, 503 and 429 (0: no answer): %v", bad)
	}
	if over.MissingRetryAfter > 0 {
		t.Errorf("%d answers 503/429 without Retry-After", over.MissingRetryAfter)
	}
	if ok := over.Status[http.StatusOK]; slow > ok/100 {
		t.Errorf("%d ingest requests took the server over %s, more than 1 %% of the %d accepted: their p99 is over %s", slow, limit, ok, limit)
	}
	if proc.PeakRSSBytes > overloadRSSLimit {
		t.Errorf("peak RSS %s, want under %s", mib(proc.PeakRSSBytes), mib(overloadRSSLimit))
	}
	// Back to normal within 2 s: one of the first two seconds after at
	// 80 % of the normal rate. Normal is the rate sustained before, or,
	// when lower, the steady rate of the run after (its seconds 3 to 5):
	// the log is larger by everything the overload stored, and the machine
	// is shared, so the rate before is not always what the server can do
	// now, overload or not.
	normal := sustained.EventsPerSec
	if len(after.PerSecond) >= 5 {
		steady := slices.Clone(after.PerSecond[2:5])
		slices.Sort(steady)
		normal = min(normal, float64(steady[1]))
	}
	target := int(0.8 * normal)
	recovered := -1
	for i, n := range after.PerSecond[:min(2, len(after.PerSecond))] {
		if n >= target {
			recovered = i + 1
			break
		}
	}
	if recovered < 0 {
		t.Errorf("after the overload, accepted events per second %v, want %d (80 %% of the normal rate) within 2s", after.PerSecond, target)
	}

	r.add(t, "sustained_req_s", int(sustained.RequestsPerSec))
	r.add(t, "offered_req_s", int(10*sustained.RequestsPerSec))
	r.add(t, "sent_req_s", int(float64(over.Requests)/over.Elapsed.Seconds()))
	r.add(t, "duration", duration)
	r.add(t, "ok", over.Status[http.StatusOK])
	r.add(t, "503", over.Status[http.StatusServiceUnavailable])
	r.add(t, "429", over.Status[http.StatusTooManyRequests])
	r.add(t, "no_answer", over.Status[0])
	r.add(t, "missing_retry_after", over.MissingRetryAfter)
	r.add(t, "sustained_p99", sustained.Latency.P99)
	r.add(t, "limit", limit)
	r.add(t, "server_over_limit", slow)
	// A figure, not a check (issue 16): the answers over the writer's
	// delay target, as a share of the accepted; at most 1 % means the
	// accepted requests' p99 is within the target.
	overTarget := (allAfter - allBefore) - (targetAfter - targetBefore)
	r.add(t, "server_over_delay_target", overTarget)
	r.add(t, "over_delay_target_share", fmt.Sprintf("%.2f%%", 100*float64(overTarget)/float64(max(1, over.Status[http.StatusOK]))))
	r.add(t, "client_accepted_p99", over.AcceptedLatency.P99)
	r.add(t, "late", over.Late)
	r.add(t, "peak_rss", mib(proc.PeakRSSBytes))
	r.add(t, "recovered_in_s", recovered)
	for reason, n := range refusals(t, s.base) {
		r.add(t, "refused_"+reason, n)
	}
}

// refusals reads sluice_ingest_refused_total by reason from the server's
// metrics.
func refusals(t *testing.T, base string) map[string]int {
	t.Helper()
	a := do(context.Background(), newClient(1, 10*time.Second), "GET", base+"/metrics", adminKey, nil)
	if a.err != nil || a.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", a.status, a.err)
	}
	n := map[string]int{}
	for line := range strings.SplitSeq(string(a.body), "\n") {
		if rest, ok := strings.CutPrefix(line, `sluice_ingest_refused_total{reason="`); ok {
			reason, value, _ := strings.Cut(rest, `"} `)
			f, _ := strconv.ParseFloat(value, 64)
			n[reason] = int(f)
		}
	}
	return n
}

// latencyBuckets are the bounds of the server's request latency histogram
// (httpapi's metrics) from overloadP99Limit up.
var latencyBuckets = []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 10 * time.Second}

// overloadLimit is the p99 the accepted requests must keep under overload:
// overloadP99Limit, or overloadP99Ratio times the p99 of normal load
// measured in the same run when that is more (a shared machine can be
// several times slower one hour than the next), rounded up to a bucket of
// the server's histogram.
func overloadLimit(sustainedP99 time.Duration) time.Duration {
	want := max(overloadP99Limit, overloadP99Ratio*sustainedP99)
	for _, b := range latencyBuckets {
		if b >= want {
			return b
		}
	}
	return latencyBuckets[len(latencyBuckets)-1]
}

// ingestLatency reads, from the server's metrics, how many ingest requests
// it answered within limit (a bucket of its histogram) and in all.
func ingestLatency(t *testing.T, base string, limit time.Duration) (fast, all int) {
	t.Helper()
	a := do(context.Background(), newClient(1, 10*time.Second), "GET", base+"/metrics", adminKey, nil)
	if a.err != nil || a.status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", a.status, a.err)
	}
	le := strconv.FormatFloat(limit.Seconds(), 'g', -1, 64)
	sc := bufio.NewScanner(strings.NewReader(string(a.body)))
	for sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), " ")
		f, _ := strconv.ParseFloat(value, 64) // counts over a million come as 1.234567e+06
		n := int(f)
		switch name {
		case `sluice_http_request_duration_seconds_bucket{route="ingest",le="` + le + `"}`:
			fast = n
		case `sluice_http_request_duration_seconds_count{route="ingest"}`:
			all = n
		}
	}
	if all == 0 {
		t.Fatalf("no ingest latency in the metrics:\n%.2000s", a.body)
	}
	return fast, all
}
