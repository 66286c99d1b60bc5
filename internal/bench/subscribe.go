package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
)

// SubscribeConfig is one run of the subscription benchmark: ingest at a
// steady rate while a subscriber follows the log over HTTP (long polls and
// acknowledgements) and a writer waits for its own writes.
type SubscribeConfig struct {
	// URL is the server's base URL (http://127.0.0.1:7070).
	URL string
	// Key may ingest, read and subscribe: an admin key.
	Key string
	// Rate is the events per second ingested, durable. Default 10,000.
	Rate float64
	// Batch is the events per ingest request. Default 10.
	Batch int
	// Connections is the ingest connections. Default 16.
	Connections int
	// Duration is the run's length. Default 10s.
	Duration time.Duration
	// Waits is how many times a second the writer appends one event and
	// waits for the subscription to process it. Default 100: the p99 of
	// the 199 waits of 10 s at 20 a second was their second largest, one
	// burst's worth of noise.
	Waits float64
	// EventBytes is the approximate size of one event's JSON. Default 400.
	EventBytes int
}

func (c SubscribeConfig) withDefaults() SubscribeConfig {
	if c.Rate <= 0 {
		c.Rate = 10_000
	}
	if c.Batch <= 0 {
		c.Batch = 10
	}
	if c.Connections <= 0 {
		c.Connections = 16
	}
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Waits <= 0 {
		c.Waits = 100
	}
	if c.EventBytes <= 0 {
		c.EventBytes = DefaultEventBytes
	}
	return c
}

// SubscribeResult is what Subscribe measured.
type SubscribeResult struct {
	// Events were acknowledged (durable) to the ingest connections.
	Events       int     `json:"events"`
	EventsPerSec float64 `json:"events_per_sec"`
	// IngestErrors are ingest requests not answered 200.
	IngestErrors int `json:"ingest_errors"`
	// Late counts ingest requests sent over 1 ms after they were due.
	Late int `json:"late"`
	// Ingest is the latency of the durable ingest requests, from when each
	// was due: the baseline of the same run for Delivery.
	Ingest Latency `json:"ingest"`
	// Delivered counts the events the subscriber received.
	Delivered int `json:"delivered"`
	// Delivery is, per event, from its durable acknowledgement to the
	// ingest connection until the subscriber had received the answer of the
	// long poll that returned it (its whole body, before decoding it).
	// Events delivered before their acknowledgement arrived count as 0.
	Delivery Latency `json:"delivery"`
	// BeforeAck counts those events delivered before their ingest
	// acknowledgement arrived.
	BeforeAck int `json:"before_ack"`
	// Waits counts the writer's waits; Wait is, per wait, from the
	// subscriber's acknowledgement that covered the write (its answer)
	// until the wait returned (0 when it returned first).
	Waits        int     `json:"waits"`
	Wait         Latency `json:"wait"`
	WaitTimeouts int     `json:"wait_timeouts"`
	// Server is the server's CPU and memory, when the caller watched it.
	Server *ProcStats `json:"server,omitempty"`
}

// stamp is a position and when something happened to it.
type stamp struct {
	pos sluice.Position
	at  time.Time
}

// Subscribe creates a subscription at the end of the log, runs the
// ingest, the subscriber and the writer for cfg.Duration, then matches
// their times; the subscription is deleted at the end.
func Subscribe(ctx context.Context, cfg SubscribeConfig) (SubscribeResult, error) {
	cfg = cfg.withDefaults()
	c := client.New(cfg.URL, client.WithKey(cfg.Key))
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "bench-" + hex.EncodeToString(b[:])
	if _, err := c.PutSubscription(ctx, name, client.SubscriptionOptions{Start: client.End}); err != nil {
		return SubscribeResult{}, fmt.Errorf("bench: %w", err)
	}
	defer c.DeleteSubscription(context.WithoutCancel(ctx), name)

	var res SubscribeResult
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		delivered, acks   []stamp
		waited            []stamp // position written, wait returned
		subErr, waitErr   error
		subDone, waitDone = make(chan struct{}), make(chan struct{})
	)
	// The subscriber follows until the ingest is over and it has caught up.
	stopSub := make(chan sluice.Position, 1)
	go func() {
		defer close(subDone)
		delivered, acks, subErr = follow(ctx, c, &caller{cfg: cfg, client: &http.Client{}}, name, stopSub)
	}()
	go func() {
		defer close(waitDone)
		waited, res.WaitTimeouts, waitErr = writeAndWait(runCtx, c, name, cfg.Waits)
	}()
	ing := newIngestCaller(cfg)
	run := steady(runCtx, ing, cfg)
	<-waitDone
	st, err := c.GetSubscription(ctx, name)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	stopSub <- st.Head
	<-subDone
	if err := errors.Join(subErr, waitErr); err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}

	res.Events, res.IngestErrors, res.Late = run.ingested, run.errs, run.late
	res.EventsPerSec = float64(run.ingested) / run.elapsed.Seconds()
	var delivery, wait histogram
	for _, d := range delivered {
		at, ok := run.acked[d.pos]
		if !ok {
			continue // the writer's own events
		}
		res.Delivered++
		lat := d.at.Sub(at)
		if lat < 0 {
			res.BeforeAck++
			lat = 0
		}
		delivery.record(lat)
	}
	for _, w := range waited {
		i := sort.Search(len(acks), func(i int) bool { return acks[i].pos >= w.pos })
		if i == len(acks) {
			continue
		}
		res.Waits++
		wait.record(max(w.at.Sub(acks[i].at), 0))
	}
	res.Delivery, res.Wait, res.Ingest = delivery.latency(), wait.latency(), run.latency.latency()
	return res, nil
}

// follow reads the subscription with long polls through in, acknowledging
// each batch through c, until it has acknowledged the position sent on
// stop. It returns when each event was delivered and when each
// acknowledgement was answered.
func follow(ctx context.Context, c *client.Client, in *caller, name string, stop <-chan sluice.Position) (delivered, acks []stamp, err error) {
	until := sluice.Position(math.MaxUint64)
	var done sluice.Position // acknowledged
	for {
		select {
		case until = <-stop:
		default:
		}
		if done >= until {
			return delivered, acks, nil
		}
		b, at, err := in.fetch(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range b.Events {
			delivered = append(delivered, stamp{e.Position, at})
		}
		done = max(done, b.Checkpoint)
		if b.Position > b.Checkpoint {
			if _, err := c.Ack(ctx, name, "bench", b.Position); err != nil {
				return nil, nil, err
			}
			acks = append(acks, stamp{b.Position, time.Now()})
			done = b.Position
		}
	}
}

// writeAndWait appends one event perSecond times a second and waits for
// the subscription to have processed it, until ctx ends. It returns each
// position and when its wait returned.
func writeAndWait(ctx context.Context, c *client.Client, name string, perSecond float64) (waited []stamp, timeouts int, err error) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / perSecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return waited, timeouts, nil
		case <-tick.C:
		}
		res, err := c.Ingest(ctx, []sluice.Event{{Type: "bench.write", Data: []byte(`{}`)}})
		if ctx.Err() != nil {
			return waited, timeouts, nil
		}
		if err != nil {
			return nil, 0, err
		}
		err = c.Wait(ctx, name, res.Position, 5*time.Second)
		switch {
		case ctx.Err() != nil:
			return waited, timeouts, nil
		case errors.Is(err, client.ErrWaitTimeout):
			timeouts++
		case err != nil:
			return nil, 0, err
		default:
			waited = append(waited, stamp{res.Position, time.Now()})
		}
	}
}

// steadyRun is what steady measured.
type steadyRun struct {
	ingested, errs, late int
	latency              histogram
	elapsed              time.Duration
	// acked is when each position written was acknowledged.
	acked map[sluice.Position]time.Time
}

// newIngestCaller returns the caller of the ingest connections.
func newIngestCaller(cfg SubscribeConfig) *caller {
	return &caller{cfg: cfg, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Connections}}}
}

// steady ingests cfg.Rate events a second, durable, in requests of
// cfg.Batch, over cfg.Connections, until ctx ends: open loop, each request
// due at its time and its latency counted from then. A request sent before
// ctx ends is waited for (cancelling it would drop the slowest latencies
// from the figures); the client's timeout bounds it.
func steady(ctx context.Context, in *caller, cfg SubscribeConfig) steadyRun {
	sendCtx := context.WithoutCancel(ctx)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		run    = steadyRun{acked: map[sluice.Position]time.Time{}}
		next   int64
		bodies = makeBodies(Config{Kind: KindPageView, Batch: cfg.Batch, EventBytes: cfg.EventBytes}, 1<<20)
	)
	interval := time.Duration(float64(time.Second) * float64(cfg.Batch) / cfg.Rate)
	start := time.Now()
	for range cfg.Connections {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				due := start.Add(time.Duration(i) * interval)
				if err := sleepUntil(ctx, due); err != nil {
					return
				}
				wasLate := time.Since(due) > time.Millisecond
				pos, at, err := in.ingest(sendCtx, bodies[i%int64(len(bodies))])
				mu.Lock()
				if wasLate {
					run.late++
				}
				if err == nil {
					for p := pos - sluice.Position(cfg.Batch) + 1; p <= pos; p++ {
						run.acked[p] = at
					}
					run.ingested += cfg.Batch
					run.latency.record(at.Sub(due))
				} else {
					run.errs++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	run.elapsed = time.Since(start)
	return run
}

// caller sends the generator's own requests: the durable ingest, and the
// subscriber's long polls, whose answers it decodes no further than the
// positions (the subscriber handles nothing: what is measured is the
// delivery, not the generator's decoding of events).
type caller struct {
	cfg    SubscribeConfig
	client *http.Client
}

// ingest posts body and returns the highest position it wrote and when the
// answer came.
func (in *caller) ingest(ctx context.Context, body []byte) (sluice.Position, time.Time, error) {
	var answer struct {
		Position sluice.Position `json:"position"`
	}
	at, err := in.do(ctx, http.MethodPost, "/v1/events", body, &answer)
	return answer.Position, at, err
}

// positions is a subscription's batch, decoded no further than its
// positions.
type positions struct {
	Events []struct {
		Position sluice.Position `json:"position"`
	} `json:"events"`
	Position   sluice.Position `json:"position"`
	Checkpoint sluice.Position `json:"checkpoint"`
}

// fetch long-polls the subscription name for its next batch as reader
// "bench", and returns it and when its whole body had arrived.
func (in *caller) fetch(ctx context.Context, name string) (positions, time.Time, error) {
	var b positions
	at, err := in.do(ctx, http.MethodGet, "/v1/subscriptions/"+url.PathEscape(name)+"/events?limit=1000&wait=200ms&reader=bench", nil, &b)
	return b, at, err
}

// do sends a request with the key and decodes a 200 answer's JSON into
// out. It returns when the answer's body had been read whole.
func (in *caller) do(ctx context.Context, method, path string, body []byte, out any) (time.Time, error) {
	req, err := http.NewRequestWithContext(ctx, method, in.cfg.URL+path, bytes.NewReader(body))
	if err != nil {
		return time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+in.cfg.Key)
	resp, err := in.client.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	at := time.Now()
	if err != nil {
		return at, err
	}
	if resp.StatusCode != http.StatusOK {
		return at, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return at, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return at, nil
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
