package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

const (
	adminKey = "sk_admin_reliability_0123456789"
	writeKey = "sk_write_reliability_0123456789"
)

// binary is the sluice command, built once by TestMain.
var binary string

// full reports whether SLUICE_RELIABILITY=full selects the full version of
// the scenarios; "short" selects the short one that CI runs.
var full = os.Getenv("SLUICE_RELIABILITY") == "full"

func TestMain(m *testing.M) {
	// go test ./... (make test) runs packages in parallel, and the outage
	// scenario stops PostgreSQL under them: the harness runs only when
	// asked, by make reliability.
	if os.Getenv("SLUICE_RELIABILITY") == "" {
		fmt.Println("reliability: SLUICE_RELIABILITY is not set; skipping (run make reliability)")
		os.Exit(0)
	}
	os.Exit(runTests(m))
}

// runTests builds the binary, runs the tests and prints the table of
// results.
func runTests(m *testing.M) int {
	var remove func()
	var err error
	if binary, remove, err = testutil.BuildSluice("../cmd/sluice"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	code := m.Run()
	printResults(os.Stdout)
	return code
}

// A result is one scenario's figures and verdict.
type result struct {
	scenario string
	figures  []string
	pass     bool
	skipped  bool
}

var (
	resultsMu sync.Mutex
	results   []*result
)

// report starts the result of scenario; the test adds figures with add, and
// when it ends its verdict (PASS unless it failed) is logged as one RESULT
// line and kept for the table.
func report(t *testing.T, scenario string) *result {
	t.Helper()
	r := &result{scenario: scenario}
	t.Cleanup(func() {
		r.pass, r.skipped = !t.Failed(), t.Skipped()
		t.Logf("RESULT %s: %s, %s", r.scenario, strings.Join(r.figures, ", "), r.verdict())
		resultsMu.Lock()
		results = append(results, r)
		resultsMu.Unlock()
	})
	return r
}

// add records a figure, "name=value", and logs it.
func (r *result) add(t *testing.T, name string, value any) {
	t.Helper()
	s := fmt.Sprintf("%s=%v", name, value)
	if d, ok := value.(time.Duration); ok {
		s = name + "=" + roundDuration(d).String()
	}
	r.figures = append(r.figures, s)
	t.Log(s)
}

func (r *result) verdict() string {
	switch {
	case r.skipped:
		return "SKIP"
	case r.pass:
		return "PASS"
	}
	return "FAIL"
}

// printResults prints the table of every scenario's result.
func printResults(w io.Writer) {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	mode := "short"
	if full {
		mode = "full"
	}
	fmt.Fprintf(w, "\n== reliability (%s) ==\n", mode)
	for _, r := range results {
		fmt.Fprintf(w, "%-4s %-22s %s\n", r.verdict(), r.scenario, strings.Join(r.figures, "  "))
	}
}

// roundDuration keeps three significant figures or so.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// server is the sluice binary running "serve".
type server struct {
	*testutil.Sluice
	log  *testutil.LogBuffer
	base string
}

// startServer runs "sluice serve --listen 127.0.0.1:0 args..." with the
// test keys and env (and no other SLUICE_ variable), and waits until it
// listens. The test's end kills it if it still runs.
func startServer(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	s := testutil.StartSluice(t, binary, append([]string{"SLUICE_ADMIN_KEY=" + adminKey, "SLUICE_WRITE_KEY=" + writeKey}, env...), args...)
	return &server{Sluice: s, log: s.Log, base: s.Base}
}

// procStatus reads a field in kB of /proc/PID/status (VmRSS, VmHWM) in
// bytes; 0 when it cannot be read.
func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// peakRSS is the server's peak resident memory so far (VmHWM).
func (s *server) peakRSS() int64 { return procStatus(s.Cmd.Process.Pid, "VmHWM") }

// resetPeak makes the peak resident memory (VmHWM) start over from the
// current one (Linux: clear_refs 5), so that each scenario measures its own.
func (s *server) resetPeak() {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.Cmd.Process.Pid), []byte("5"), 0)
}

// mib formats bytes in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }

// newClient returns an HTTP client that keeps up to conns connections to
// one host, with a timeout per request.
func newClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

// answer is what the server answered to one request.
type answer struct {
	status     int
	body       []byte
	retryAfter string
	took       time.Duration
	err        error // transport error: no answer
}

// code is the problem's code of an error answer ("" if none).
func (a answer) code() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(a.body, &p)
	return p.Code
}

// do sends a request with key and body (JSON) and reads the whole answer.
func do(ctx context.Context, c *http.Client, method, url, key string, body []byte) answer {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return answer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, body: b, retryAfter: resp.Header.Get("Retry-After"), took: time.Since(start), err: err}
}

// storedEvent is an event as GET /v1/events returns it.
type storedEvent struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	Position uint64          `json:"position"`
}

// readLog pages through GET /v1/events with the filter query (such as
// "type=a") and returns every event.
func readLog(t *testing.T, base, filter string) []storedEvent {
	t.Helper()
	c := newClient(1, time.Minute)
	var all []storedEvent
	after := uint64(0)
	for {
		u := fmt.Sprintf("%s/v1/events?after=%d&limit=1000", base, after)
		if filter != "" {
			u += "&" + filter
		}
		a := do(context.Background(), c, "GET", u, adminKey, nil)
		if a.err != nil || a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %v %s", u, a.status, a.err, a.body)
		}
		var page struct {
			Events    []storedEvent `json:"events"`
			NextAfter uint64        `json:"next_after"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		if len(page.Events) == 0 {
			return all
		}
		all = append(all, page.Events...)
		after = page.NextAfter
	}
}

// oracle remembers what the server acknowledged: every id answered 200 in
// durable mode, with its data as sent, and the ids sent without an answer.
type oracle struct {
	mu      sync.Mutex
	acked   map[string][]byte
	unacked map[string][]byte
}

func newOracle() *oracle {
	return &oracle{acked: map[string][]byte{}, unacked: map[string][]byte{}}
}

// event is one event the oracle sends.
type event struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// record files the events of one request under its answer: acknowledged
// when the answer is 200 and counts every event (accepted or duplicate).
func (o *oracle) record(evs []event, a answer) bool {
	ok := false
	if a.err == nil && a.status == http.StatusOK {
		var ans struct {
			Accepted   int `json:"accepted"`
			Duplicates int `json:"duplicates"`
		}
		ok = json.Unmarshal(a.body, &ans) == nil && ans.Accepted+ans.Duplicates == len(evs)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range evs {
		if ok {
			o.acked[e.ID] = e.Data
			delete(o.unacked, e.ID)
		} else if _, done := o.acked[e.ID]; !done {
			o.unacked[e.ID] = e.Data
		}
	}
	return ok
}

// verdict of a check of the log against the oracle.
type verdict struct {
	acked, found, missing, duplicates, corrupt, unackedStored int
}

// check compares the events read from the log with what the oracle knows:
// every acknowledged id must be there exactly once with its data byte for
// byte; unacknowledged ids may be there (at most once).
func (o *oracle) check(t *testing.T, evs []storedEvent) verdict {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	v := verdict{acked: len(o.acked)}
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.ID]++
		if seen[e.ID] == 2 {
			v.duplicates++
			t.Errorf("id %q is in the log more than once", e.ID)
		}
		if data, ok := o.acked[e.ID]; ok {
			if seen[e.ID] == 1 {
				v.found++
			}
			if !bytes.Equal(data, e.Data) {
				v.corrupt++
				t.Errorf("id %q: data %s, sent %s", e.ID, e.Data, data)
			}
		} else if _, ok := o.unacked[e.ID]; ok && seen[e.ID] == 1 {
			v.unackedStored++
		}
	}
	var missing []string
	for id := range o.acked {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
	}
	v.missing = len(missing)
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("%d acknowledged ids are not in the log, such as %q", len(missing), missing[:min(5, len(missing))])
	}
	return v
}

// percentile returns the p-th percentile (0 < p ≤ 100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// ingestURL is the durable ingest URL of base.
func ingestURL(base string) string { return base + "/v1/events" }

// typeFilter is the query that selects one type.
func typeFilter(typ string) string { return "type=" + url.QueryEscape(typ) }

// sample is one answer of a loader, at when since the loader started.
type sample struct {
	when time.Duration
	answer
}

// loader sends durable batches of 1 to maxBatch events with unique ids over
// conns connections, records them in its oracle, and keeps every answer.
type loader struct {
	base     string
	typ      string // the events' type; ids start with it
	conns    int
	maxBatch int
	padBytes int // random bytes of each event's data (hex: twice as many characters)
	oracle   *oracle
	start    time.Time // when answers' times count from; default when run starts

	mu      sync.Mutex
	samples []sample
}

// run sends until ctx is done.
func (l *loader) run(ctx context.Context) {
	c := newClient(l.conns, 30*time.Second)
	defer c.CloseIdleConnections()
	start := l.start
	if start.IsZero() {
		start = time.Now()
	}
	var wg sync.WaitGroup
	for w := range l.conns {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for seq := 0; ctx.Err() == nil; {
				n := 1 + rnd.IntN(l.maxBatch)
				evs := make([]event, n)
				for i := range evs {
					seq++
					evs[i] = event{ID: fmt.Sprintf("%s-%d-%d", l.typ, w, seq), Type: l.typ, Data: randomData(rnd, w, seq, l.padBytes)}
				}
				var body []byte
				if n == 1 {
					body, _ = json.Marshal(evs[0])
				} else {
					body, _ = json.Marshal(evs)
				}
				a := do(ctx, c, "POST", ingestURL(l.base), writeKey, body)
				if a.err != nil && ctx.Err() != nil {
					l.oracle.record(evs, a) // sent, answer unknown
					return
				}
				l.oracle.record(evs, a)
				l.mu.Lock()
				l.samples = append(l.samples, sample{when: time.Since(start), answer: answer{status: a.status, retryAfter: a.retryAfter, took: a.took, err: a.err, body: errorBody(a)}})
				l.mu.Unlock()
				if a.err != nil {
					time.Sleep(10 * time.Millisecond) // pace retries against a server that is not there
				}
			}
		})
	}
	wg.Wait()
}

// errorBody keeps the body of an error answer only.
func errorBody(a answer) []byte {
	if a.status >= 400 {
		return a.body
	}
	return nil
}

// randomData is compact JSON with random contents, escapes and non-ASCII
// text: what GET /v1/events returns must be these bytes.
func randomData(rnd *rand.Rand, w, seq, pad int) json.RawMessage {
	b := make([]byte, pad)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return json.RawMessage(fmt.Sprintf(`{"w":%d,"seq":%d,"f":%d.%03d,"u":"é\u00e9\"\\q","pad":"%x"}`, w, seq, rnd.IntN(1000), rnd.IntN(1000), b))
}

// jsonMarshal is json.Marshal.
func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// poll polls cond every few milliseconds until it holds or timeout passes,
// and reports whether it held. (testutil.Eventually when the failure needs
// more words.)
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// summary counts the loader's answers by status and code.
func (l *loader) summary() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[string]int{}
	for _, s := range l.samples {
		k := strconv.Itoa(s.status)
		if c := s.code(); c != "" {
			k += " " + c
		}
		if s.err != nil {
			k = "error " + s.err.Error()
		}
		m[k]++
	}
	return m
}
