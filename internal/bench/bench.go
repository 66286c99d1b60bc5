package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures Run. A field left at its zero value takes its default.
type Config struct {
	// URL is the ingest URL, such as http://127.0.0.1:7070/v1/events;
	// ack=async is added to its query when Async. Required.
	URL string
	// Key is sent as Authorization: Bearer; none when empty. Default "".
	Key string
	// Batch is the events per request: 0 or 1 sends one envelope per
	// request, N > 1 a JSON array of N. Default 1.
	Batch int
	// Async asks for ?ack=async: answered after validation and enqueueing.
	// Default false (durable).
	Async bool
	// Connections is the number of concurrent connections, each sending
	// one request at a time. Default 64.
	Connections int
	// Duration stops the run after this long (no request starts later;
	// those in flight are answered). Default: 10s when Events is 0 too.
	Duration time.Duration
	// Events stops the run once requests carrying at least this many
	// events have started: ceil(Events/Batch) requests. Whichever of
	// Duration and Events comes first ends the run. Default 0 (no limit).
	Events int
	// Rate is the requests per second of all connections together,
	// open-loop: request i is due at start + i/Rate whatever became of
	// the requests before it. A free connection sends the next request
	// when it is due; when none was free at that time, the request goes
	// as soon as one frees, its latency counted from when it was due (so
	// a server that stalls shows in the latency instead of slowing the
	// load, as in wrk2), and it counts in Result.Late. There are never
	// more than Connections requests in flight. 0 sends as fast as the
	// connections go (closed loop). Default 0.
	Rate float64
	// Kind is the events' kind: "page_view", "web_vital", "order" or
	// "mixed" (see Envelopes). Default "page_view".
	Kind string
	// EventBytes is the approximate size of one event's JSON. Default 400.
	EventBytes int
	// Invalid is the share of events (0..1) that break the kind's schema.
	// Default 0.
	Invalid float64
	// Timeout bounds each request, answer included. Default 30s.
	Timeout time.Duration
	// Progress, when set, receives a line a second: the events and
	// requests accepted in that second and the errors so far. Default nil.
	Progress io.Writer
}

// Defaults of Config.
const (
	DefaultConnections = 64
	DefaultDuration    = 10 * time.Second
	DefaultKind        = KindPageView
	DefaultEventBytes  = 400
	DefaultTimeout     = 30 * time.Second
)

// withDefaults returns c with its defaults filled in.
func (c Config) withDefaults() Config {
	c.Batch = max(c.Batch, 1)
	if c.Connections <= 0 {
		c.Connections = DefaultConnections
	}
	if c.Duration <= 0 && c.Events <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Kind == "" {
		c.Kind = DefaultKind
	}
	if c.EventBytes <= 0 {
		c.EventBytes = DefaultEventBytes
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

// Validate returns every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if u, err := url.Parse(c.URL); c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http:// or https:// URL", c.URL))
	}
	for _, f := range []struct {
		name     string
		negative bool
	}{
		{"batch", c.Batch < 0}, {"connections", c.Connections < 0}, {"duration", c.Duration < 0},
		{"events", c.Events < 0}, {"rate", c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0)},
		{"event_bytes", c.EventBytes < 0}, {"timeout", c.Timeout < 0},
	} {
		if f.negative {
			errs = append(errs, fmt.Errorf("%s: must not be negative", f.name))
		}
	}
	if c.Kind != "" && !validKind(c.Kind) {
		errs = append(errs, fmt.Errorf("kind: %q is not one of %s", c.Kind, strings.Join(Kinds, ", ")))
	}
	if !(c.Invalid >= 0 && c.Invalid <= 1) {
		errs = append(errs, fmt.Errorf("invalid: %v is not a share between 0 and 1", c.Invalid))
	}
	return errors.Join(errs...)
}

// Latency is a summary of latencies; each is within 1.6 % of the exact
// value (Max is exact).
type Latency struct {
	P50 time.Duration `json:"p50"`
	P90 time.Duration `json:"p90"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

// Result is what Run measured.
type Result struct {
	// Requests and Events are those sent (events: Batch per request).
	Requests int `json:"requests"`
	Events   int `json:"events"`
	// Elapsed is from the first request's start to the last answer.
	Elapsed time.Duration `json:"elapsed"`
	// RequestsPerSec and EventsPerSec are of accepted (2xx) requests and
	// the events they carried (events a 2xx answer reports rejected
	// included), over Elapsed.
	RequestsPerSec float64 `json:"requests_per_sec"`
	EventsPerSec   float64 `json:"events_per_sec"`
	// Latency is of all answered requests; AcceptedLatency of 2xx answers
	// only. With Rate, a late request's latency counts from when it was due.
	Latency         Latency `json:"latency"`
	AcceptedLatency Latency `json:"accepted_latency"`
	// Status counts answers by status code; 0 counts transport errors
	// (refused, reset, timed out).
	Status map[int]int `json:"status"`
	// MissingRetryAfter counts 429 and 503 answers without Retry-After.
	MissingRetryAfter int `json:"missing_retry_after"`
	// Late counts requests (with Rate) that started more than a
	// millisecond after they were due, for want of a free connection.
	Late int `json:"late"`
	// PerSecond is the accepted events answered in each second of the run.
	PerSecond []int `json:"per_second"`
	// Server is what the watched server process used, when the caller set
	// it (Run never does).
	Server *ProcStats `json:"server,omitempty"`
}

// Errors is the number of requests not answered with a 2xx status,
// transport errors included.
func (r Result) Errors() int {
	n := 0
	for code, c := range r.Status {
		if code < 200 || code > 299 {
			n += c
		}
	}
	return n
}

// maxPoolBytes bounds the bodies Run makes before it starts; a body is
// sent again once all have been sent.
const maxPoolBytes = 32 << 20

// maxPoolBodies bounds their number.
const maxPoolBodies = 1024

// Run sends load as cfg says until the duration has passed, the events
// were sent or ctx is done, and returns what it measured. Before the
// clock starts it makes a pool of distinct bodies (at most 1,024 and
// 32 MiB; see Envelopes) that the requests send in turn. A request that
// fails in transport counts under status 0 and the run goes on. When ctx
// is done first, Run returns what it measured so far with ctx's error.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, fmt.Errorf("bench: %w", err)
	}
	cfg = cfg.withDefaults()
	target := cfg.URL
	if cfg.Async {
		u, _ := url.Parse(cfg.URL) // checked by Validate
		q := u.Query()
		q.Set("ack", "async")
		u.RawQuery = q.Encode()
		target = u.String()
	}
	maxRequests := int64(math.MaxInt64)
	if cfg.Events > 0 {
		maxRequests = int64((cfg.Events + cfg.Batch - 1) / cfg.Batch)
	}
	bodies := makeBodies(cfg, maxRequests)
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxConnsPerHost:     cfg.Connections,
		MaxIdleConns:        cfg.Connections,
		MaxIdleConnsPerHost: cfg.Connections,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}

	r := &run{cfg: cfg, target: target, client: client, bodies: bodies, maxRequests: maxRequests}
	r.start = time.Now()
	if cfg.Duration > 0 {
		r.deadline = r.start.Add(cfg.Duration)
	}
	if cfg.Rate > 0 {
		r.interval = float64(time.Second) / cfg.Rate
	}
	workers := make([]*worker, cfg.Connections)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{status: map[int]int{}}
		wg.Go(func() { r.work(ctx, workers[i]) })
	}
	progressDone := make(chan struct{})
	progressStopped := make(chan struct{})
	go func() { defer close(progressStopped); r.progress(progressDone) }()
	wg.Wait()
	elapsed := time.Since(r.start)
	close(progressDone)
	<-progressStopped

	res := Result{Elapsed: elapsed, Status: map[int]int{}}
	var all, accepted histogram
	acceptedRequests := 0
	for _, w := range workers {
		res.Requests += w.requests
		res.MissingRetryAfter += w.missingRetryAfter
		res.Late += w.late
		acceptedRequests += w.accepted
		for code, n := range w.status {
			res.Status[code] += n
		}
		all.merge(&w.all)
		accepted.merge(&w.ok)
		for len(res.PerSecond) < len(w.perSecond) {
			res.PerSecond = append(res.PerSecond, 0)
		}
		for s, n := range w.perSecond {
			res.PerSecond[s] += n
		}
	}
	res.Events = res.Requests * cfg.Batch
	if secs := elapsed.Seconds(); secs > 0 {
		res.RequestsPerSec = float64(acceptedRequests) / secs
		res.EventsPerSec = float64(acceptedRequests*cfg.Batch) / secs
	}
	res.Latency, res.AcceptedLatency = all.latency(), accepted.latency()
	return res, ctx.Err()
}

// makeBodies makes the pool of bodies: requests of cfg.Batch events, at
// most as many as the run sends.
func makeBodies(cfg Config, maxRequests int64) [][]byte {
	g := newGenerator(cfg.Kind, cfg.EventBytes, cfg.Invalid)
	perBody := max(1, (cfg.EventBytes+1)*cfg.Batch)
	n := int(min(int64(maxPoolBodies), int64(max(1, maxPoolBytes/perBody)), maxRequests))
	bodies := make([][]byte, n)
	for i := range bodies {
		if cfg.Batch == 1 {
			bodies[i] = g.next()
			continue
		}
		b := make([]byte, 0, perBody+2)
		b = append(b, '[')
		for j := range cfg.Batch {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, g.next()...)
		}
		bodies[i] = append(b, ']')
	}
	return bodies
}

// run is the shared state of one Run.
type run struct {
	cfg         Config
	target      string
	client      *http.Client
	bodies      [][]byte
	maxRequests int64
	start       time.Time
	deadline    time.Time // zero: none
	interval    float64   // ns between due times; 0: no rate

	next           atomic.Int64 // the next request's number
	acceptedEvents atomic.Int64 // for progress
	acceptedReqs   atomic.Int64
	errors         atomic.Int64
}

// worker is one connection's loop and what it measured.
type worker struct {
	requests, accepted, late, missingRetryAfter int
	status                                      map[int]int
	all, ok                                     histogram
	perSecond                                   []int
}

// work sends requests until the run ends.
func (r *run) work(ctx context.Context, w *worker) {
	var timer *time.Timer
	for {
		i := r.next.Add(1) - 1
		if i >= r.maxRequests {
			return
		}
		var due time.Time
		if r.interval > 0 {
			due = r.start.Add(time.Duration(float64(i) * r.interval))
			if !r.deadline.IsZero() && !due.Before(r.deadline) {
				return
			}
			if wait := time.Until(due); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
					defer timer.Stop()
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}
		// No request starts after the deadline, not even one that was due
		// before it: the generator could not send it in time.
		if ctx.Err() != nil || !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
			return
		}
		r.send(ctx, w, r.bodies[i%int64(len(r.bodies))], due)
	}
}

// send sends body and records the answer. due, when set, is when the
// request was due: its latency counts from then.
func (r *run) send(ctx context.Context, w *worker, body []byte, due time.Time) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.target, bytes.NewReader(body))
	if err != nil { // the URL was checked: not reached
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if r.cfg.Key != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.Key)
	}
	start := time.Now()
	from := start
	if !due.IsZero() && due.Before(start) {
		from = due
		if start.Sub(due) > time.Millisecond {
			w.late++
		}
	}
	w.requests++
	status := 0
	resp, err := r.client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		if (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && resp.Header.Get("Retry-After") == "" {
			w.missingRetryAfter++
		}
	}
	if err != nil && ctx.Err() != nil {
		w.requests-- // cut short by the caller: neither sent nor answered
		return
	}
	end := time.Now()
	lat := end.Sub(from)
	w.status[status]++
	if status == 0 {
		r.errors.Add(1)
		return
	}
	w.all.record(lat)
	if status < 200 || status > 299 {
		r.errors.Add(1)
		return
	}
	w.accepted++
	w.ok.record(lat)
	r.acceptedReqs.Add(1)
	r.acceptedEvents.Add(int64(r.cfg.Batch))
	s := int(end.Sub(r.start) / time.Second)
	for len(w.perSecond) <= s {
		w.perSecond = append(w.perSecond, 0)
	}
	w.perSecond[s] += r.cfg.Batch
}

// progress writes a line a second to cfg.Progress until done is closed.
func (r *run) progress(done <-chan struct{}) {
	if r.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var events, reqs int64
	for s := 1; ; s++ {
		select {
		case <-done:
			return
		case <-t.C:
		}
		e, q := r.acceptedEvents.Load(), r.acceptedReqs.Load()
		fmt.Fprintf(r.cfg.Progress, "%4ds %12s events/s %10s req/s %8s errors\n", s, Thousands(float64(e-events)), Thousands(float64(q-reqs)), Thousands(float64(r.errors.Load())))
		events, reqs = e, q
	}
}

// Thousands formats v rounded to an integer with commas between
// thousands: 1234567.8 is "1,234,568".
func Thousands(v float64) string {
	s := fmt.Sprintf("%.0f", math.Abs(v))
	var b strings.Builder
	if v <= -0.5 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
