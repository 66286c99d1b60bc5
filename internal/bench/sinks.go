package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// The benchmark's sinks, as Receivers.Config names them.
const (
	HookSink = "bench-hook" // a webhook to a receiver in this process
	FileSink = "bench-file" // NDJSON to a file this process tails
	HungSink = "bench-hung" // a webhook to a receiver that hangs
)

// Receivers are the destinations of the sink benchmark, in this process:
// a webhook receiver, a file it tails, and (when asked) a webhook receiver
// that holds every request without answering, as a dead destination does.
// Each notes when every event arrived.
type Receivers struct {
	dir  string
	hook *http.Server
	hung *http.Server
	url  string
	hang string // the hanging receiver's URL, "" without one
	file string
	stop chan struct{} // ends the tail and the hanging requests

	hookArrivals, fileArrivals arrivals
	tailed                     chan struct{}
}

// arrivals are when each position arrived first, and when it was
// committed.
type arrivals struct {
	mu        sync.Mutex
	at        map[sluice.Position]time.Time
	committed map[sluice.Position]time.Time
}

func (a *arrivals) note(body []byte, now time.Time) {
	var e struct {
		Position   sluice.Position `json:"position"`
		RecordedAt time.Time       `json:"recorded_at"`
	}
	if json.Unmarshal(body, &e) != nil || e.Position == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, seen := a.at[e.Position]; !seen {
		a.at[e.Position], a.committed[e.Position] = now, e.RecordedAt
	}
}

// count returns how many positions in (after, through] arrived.
func (a *arrivals) count(after, through sluice.Position) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for p := range a.at {
		if p > after && p <= through {
			n++
		}
	}
	return n
}

// latency is, for the positions in (after, through], the time from its
// commit's start (recorded_at) to arrival, and from the durable
// acknowledgement of its ingest request (acked) to arrival, with how many
// arrived before their acknowledgement (counted as 0).
func (a *arrivals) latency(after, through sluice.Position, acked map[sluice.Position]time.Time) (commit, ack Latency, n, beforeAck int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var hc, ha histogram
	for p, at := range a.at {
		if p <= after || p > through {
			continue
		}
		hc.record(max(at.Sub(a.committed[p]), 0))
		n++
		if t, ok := acked[p]; ok {
			if at.Before(t) {
				beforeAck++
			}
			ha.record(max(at.Sub(t), 0))
		}
	}
	return hc.latency(), ha.latency(), n, beforeAck
}

// NewReceivers starts the receivers, with their files in dir, and the
// hanging one when hang is set.
func NewReceivers(dir string, hang bool) (*Receivers, error) {
	r := &Receivers{dir: dir, file: filepath.Join(dir, "bench-out.ndjson"), stop: make(chan struct{}), tailed: make(chan struct{}),
		hookArrivals: arrivals{at: map[sluice.Position]time.Time{}, committed: map[sluice.Position]time.Time{}},
		fileArrivals: arrivals{at: map[sluice.Position]time.Time{}, committed: map[sluice.Position]time.Time{}}}
	var err error
	if r.hook, r.url, err = serveLoopback(http.HandlerFunc(r.receive)); err != nil {
		return nil, err
	}
	if hang {
		if r.hung, r.hang, err = serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			select {
			case <-r.stop:
			case <-req.Context().Done():
			}
		})); err != nil {
			r.hook.Close()
			return nil, err
		}
	}
	if err := os.WriteFile(r.file, nil, 0o600); err != nil {
		r.Close()
		return nil, err
	}
	go r.tail()
	return r, nil
}

// serveLoopback serves h on a free loopback port.
func serveLoopback(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return srv, "http://" + ln.Addr().String() + "/hook", nil
}

// receive takes a webhook delivery.
func (r *Receivers) receive(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	now := time.Now()
	var batch struct{ Events []json.RawMessage }
	if err != nil || json.Unmarshal(body, &batch) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, e := range batch.Events {
		r.hookArrivals.note(e, now)
	}
	w.WriteHeader(http.StatusNoContent)
}

// tail reads the file sink's lines as they are written, every
// millisecond, until Close.
func (r *Receivers) tail() {
	defer close(r.tailed)
	f, err := os.Open(r.file)
	if err != nil {
		return
	}
	defer f.Close()
	rd := bufio.NewReaderSize(f, 1<<20)
	var partial []byte
	for {
		line, err := rd.ReadBytes('\n')
		partial = append(partial, line...)
		if err == nil {
			r.fileArrivals.note(partial, time.Now())
			partial = partial[:0]
			continue
		}
		select {
		case <-r.stop:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// Config is the sinks: section of the server's configuration for these
// receivers.
func (r *Receivers) Config() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "sinks:\n")
	fmt.Fprintf(&b, "  - {name: %s, type: webhook, url: %q, batch: {max_events: 1000, max_bytes: 4194304}}\n", HookSink, r.url)
	// The file is tailed by name: it must never be rotated away.
	fmt.Fprintf(&b, "  - {name: %s, type: file, path: %q, max_bytes: %d, batch: {max_events: 1000, max_bytes: 4194304}}\n", FileSink, r.file, int64(1)<<50)
	if r.hang != "" {
		fmt.Fprintf(&b, "  - {name: %s, type: webhook, url: %q, timeout: 60s}\n", HungSink, r.hang)
	}
	return b.String()
}

// Close stops the receivers.
func (r *Receivers) Close() {
	close(r.stop)
	<-r.tailed
	r.hook.Close()
	if r.hung != nil {
		r.hung.Close()
	}
}

// SinksConfig is one run of the sink benchmark against a server
// configured with Receivers.Config.
type SinksConfig struct {
	// URL is the server's base URL; Key an admin key.
	URL, Key string
	// Rate, Batch, Connections and Duration are the steady ingest of the
	// latency phase (defaults 10,000 events/s, 10, 16, 10s).
	Rate        float64
	Batch       int
	Connections int
	Duration    time.Duration
	// Drain is the events ingested while the sinks are paused, then
	// delivered one sink at a time (default 200,000).
	Drain int
	// PID is the server's process, for its CPU during each drain (0: not
	// measured).
	PID int
}

// SinksResult is what Sinks measured.
type SinksResult struct {
	// Events, EventsPerSec, IngestErrors, Late and Ingest are the steady
	// ingest's, as in SubscribeResult: Ingest is the baseline of the
	// deliveries' latency.
	Events       int     `json:"events"`
	EventsPerSec float64 `json:"events_per_sec"`
	IngestErrors int     `json:"ingest_errors"`
	Late         int     `json:"late"`
	Ingest       Latency `json:"ingest"`
	// Sinks are each good sink's figures.
	Sinks []SinkFigures `json:"sinks"`
	// Hung says whether a sink to a hanging receiver was configured too.
	Hung bool `json:"hung"`
}

// SinkFigures are one sink's figures.
type SinkFigures struct {
	Name string `json:"name"`
	// Delivered counts the steady phase's events that arrived; Latency
	// is from each one's commit's start (its recorded_at: the commit's
	// write and fsync included) to its arrival, AckLatency from the
	// durable acknowledgement of its ingest request, BeforeAck how many
	// arrived before it (counted as 0).
	Delivered  int     `json:"delivered"`
	Latency    Latency `json:"latency"`
	AckLatency Latency `json:"ack_latency"`
	BeforeAck  int     `json:"before_ack"`
	// DrainEvents were delivered from the log at DrainPerSec, the server
	// using DrainCPU CPU seconds per million events.
	DrainEvents int     `json:"drain_events"`
	DrainPerSec float64 `json:"drain_per_sec"`
	DrainCPU    float64 `json:"drain_cpu_s_per_million,omitempty"`
}

// Sinks runs the latency phase (a steady ingest, every event's commit to
// its arrival at each receiver) and then, for each sink in turn, the
// drain: events ingested while it was paused, delivered once it resumes.
func Sinks(ctx context.Context, cfg SinksConfig, rc *Receivers) (SinksResult, error) {
	sc := SubscribeConfig{URL: cfg.URL, Key: cfg.Key, Rate: cfg.Rate, Batch: cfg.Batch, Connections: cfg.Connections, Duration: cfg.Duration}.withDefaults()
	if cfg.Drain <= 0 {
		cfg.Drain = 200_000
	}
	in := newIngestCaller(sc)
	res := SinksResult{Hung: rc.hang != ""}
	before, err := head(ctx, in)
	if err != nil {
		return res, err
	}
	runCtx, cancel := context.WithTimeout(ctx, sc.Duration)
	run := steady(runCtx, in, sc)
	cancel()
	res.Events, res.IngestErrors, res.Late = run.ingested, run.errs, run.late
	res.EventsPerSec, res.Ingest = float64(run.ingested)/run.elapsed.Seconds(), run.latency.latency()
	through, err := head(ctx, in)
	if err != nil {
		return res, err
	}
	receivers := []struct {
		name string
		a    *arrivals
	}{{HookSink, &rc.hookArrivals}, {FileSink, &rc.fileArrivals}}
	for _, r := range receivers {
		if err := waitFor(ctx, 60*time.Second, func() bool { return r.a.count(before, through) == int(through-before) }); err != nil {
			return res, fmt.Errorf("bench: sink %s: %d of %d events arrived: %w", r.name, r.a.count(before, through), through-before, err)
		}
		f := SinkFigures{Name: r.name}
		f.Latency, f.AckLatency, f.Delivered, f.BeforeAck = r.a.latency(before, through, run.acked)
		res.Sinks = append(res.Sinks, f)
	}
	// The drains: the sinks paused, the log filled, each resumed alone.
	for _, r := range receivers {
		if err := in.control(ctx, r.name, "pause"); err != nil {
			return res, err
		}
	}
	from, err := fill(ctx, in, cfg.Drain)
	if err != nil {
		return res, err
	}
	to, err := head(ctx, in)
	if err != nil {
		return res, err
	}
	for i, r := range receivers {
		var cpu0 ProcStats
		if cfg.PID != 0 {
			cpu0, _ = ReadProcess(cfg.PID)
		}
		start := time.Now()
		if err := in.control(ctx, r.name, "resume"); err != nil {
			return res, err
		}
		if err := waitFor(ctx, 10*time.Minute, func() bool { return r.a.count(from, to) == int(to-from) }); err != nil {
			return res, fmt.Errorf("bench: sink %s: drain: %w", r.name, err)
		}
		took := time.Since(start)
		f := &res.Sinks[i]
		f.DrainEvents, f.DrainPerSec = int(to-from), float64(to-from)/took.Seconds()
		if cfg.PID != 0 {
			if cpu1, err := ReadProcess(cfg.PID); err == nil {
				f.DrainCPU = (cpu1.CPUSeconds - cpu0.CPUSeconds) / float64(to-from) * 1e6
			}
		}
	}
	return res, nil
}

// head returns the log's head, as the sinks' states give it.
func head(ctx context.Context, in *caller) (sluice.Position, error) {
	var sinks struct {
		Sinks []struct {
			Head sluice.Position `json:"head"`
		} `json:"sinks"`
	}
	if _, err := in.do(ctx, http.MethodGet, "/v1/sinks", nil, &sinks); err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	if len(sinks.Sinks) == 0 {
		return 0, errors.New("bench: the server has no sinks")
	}
	return sinks.Sinks[0].Head, nil
}

// fill ingests n events as fast as 4 connections go, in requests of 500,
// and returns the head before them.
func fill(ctx context.Context, in *caller, n int) (sluice.Position, error) {
	from, err := head(ctx, in)
	if err != nil {
		return 0, err
	}
	bodies := makeBodies(Config{Kind: KindPageView, Batch: 500, EventBytes: DefaultEventBytes}, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	requests := make(chan []byte)
	go func() {
		defer close(requests)
		for i := 0; i < n/500; i++ {
			select {
			case requests <- bodies[i%len(bodies)]:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range 4 {
		wg.Go(func() {
			for body := range requests {
				if _, _, err := in.ingest(ctx, body); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, fmt.Errorf("bench: fill the log: %w", firstErr)
	}
	return from, nil
}

// control pauses or resumes a sink.
func (in *caller) control(ctx context.Context, name, action string) error {
	var state struct{ Paused bool }
	if _, err := in.do(ctx, http.MethodPost, "/v1/sinks/"+name+"/"+action, nil, &state); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// waitFor polls cond every 5ms until it holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", timeout)
		}
		if err := sleepUntil(ctx, time.Now().Add(5*time.Millisecond)); err != nil {
			return err
		}
	}
	return nil
}
