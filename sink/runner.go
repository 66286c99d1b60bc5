package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
)

// The states of a sink, as the API shows them.
const (
	StateRunning     = "running"      // delivering, or caught up
	StateBackingOff  = "backing_off"  // records wait for a retry
	StateCircuitOpen = "circuit_open" // the breaker is open: one probe per interval
	StateDisabled    = "disabled"     // the destination asked for no more (410)
	StateStopped     = "stopped"      // paused, or no process runs it
)

// controlEvery is how often a runner reads its control from the store (a
// pause on another node takes effect within it) and reports its status.
const controlEvery = time.Second

// jsonOverhead is about what an event's JSON adds to its fields' bytes
// (member names, quotes, position, version, commit time).
const jsonOverhead = 160

// Runner delivers the log to one sink, in one process at a time among all
// that share the store: its live delivery, and a replay when one is asked
// for.
type Runner struct {
	cfg       Config
	limits    Limits
	store     sluice.Store
	sink      sluice.Sink
	filter    sluice.Filter
	transform *Transform
	node      string
	leaseTTL  time.Duration
	log       *slog.Logger
	breaker   *gobreaker.CircuitBreaker[struct{}]
	tracer    trace.Tracer  // nil: deliveries are not traced
	poke      chan struct{} // capacity 1: the control changed in this process

	counts     counts
	batchSizes *histogram
	latency    *histogram

	mu         sync.Mutex
	running    bool
	since      time.Time // when this process took the sink
	state      string
	lastErr    string
	lastErrAt  time.Time
	openedAt   time.Time // when the breaker last opened
	pending    int
	replay     *ReplayProgress
	lastReplay *ReplayProgress
}

// ReplayProgress is how far a replay has got.
type ReplayProgress struct {
	ID      string          `json:"id"`
	After   sluice.Position `json:"after"`
	Through sluice.Position `json:"through"`
	// Position: every event of the replay up to it was delivered again.
	Position    sluice.Position `json:"position"`
	RequestedAt time.Time       `json:"requested_at"`
	// DoneAt is when it finished; zero while it runs.
	DoneAt time.Time `json:"done_at,omitzero"`
}

// RunnerOptions are a runner's settings beside its sink's configuration.
type RunnerOptions struct {
	// Node names this process in the sink's lease; unique among the
	// processes sharing the store. Required.
	Node string
	// Logger gets the runner's changes of state. Default slog.Default().
	Logger *slog.Logger
	// Tracer, when set, gets a span for each delivery. Default nil (no
	// spans).
	Tracer trace.Tracer
}

// NewRunner returns the runner of sink s under cfg (validated and
// completed with the defaults of the destination's limits l).
func NewRunner(store sluice.Store, s sluice.Sink, cfg Config, l Limits, opts RunnerOptions) (*Runner, error) {
	if err := cfg.Validate(l); err != nil {
		return nil, fmt.Errorf("sink %q: %w", cfg.Name, err)
	}
	if opts.Node == "" {
		return nil, fmt.Errorf("sink %q: a runner needs its node's name", cfg.Name)
	}
	cfg = cfg.WithDefaults(l)
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	r := &Runner{cfg: cfg, limits: l, store: store, sink: s, filter: cfg.Filter.Log(), node: opts.Node, leaseTTL: cfg.LeaseTTL,
		tracer: opts.Tracer, log: log.With("sink", cfg.Name), poke: make(chan struct{}, 1), state: StateStopped,
		batchSizes: newHistogram(batchBounds...), latency: newHistogram(latencyBounds...)}
	if cfg.Transform != "" {
		t, err := CompileTransform(cfg.Transform)
		if err != nil {
			return nil, fmt.Errorf("sink %q: %w", cfg.Name, err)
		}
		r.transform = t
	}
	r.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        cfg.Name,
		MaxRequests: 1, // one probe when half-open
		Timeout:     cfg.Breaker.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(cfg.Breaker.Failures) },
		// A destination that answers for each record, or refuses for
		// good, is up: only whole batches that failed retryably count.
		IsSuccessful: func(err error) bool {
			var partial *sluice.DeliveryError
			return err == nil || errors.As(err, &partial) || sluice.IsPermanent(err) || errors.Is(err, sluice.ErrSinkDisabled)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			r.mu.Lock()
			if to == gobreaker.StateOpen {
				r.openedAt = time.Now()
			}
			r.mu.Unlock()
			r.log.Warn("sink: circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	return r, nil
}

// Name is the sink's name.
func (r *Runner) Name() string { return r.cfg.Name }

// Config is the sink's configuration, with its defaults.
func (r *Runner) Config() Config { return r.cfg }

// Run delivers until ctx ends, while this process holds the sink's lease
// (standing by while another has it). It returns ctx's error, or the
// error that stopped it.
func (r *Runner) Run(ctx context.Context) error {
	l := &consumer.Leader{Leases: r.store, Name: sluice.SinkConsumer(r.cfg.Name), Holder: r.node, TTL: r.leaseTTL, Logger: r.log}
	return l.Run(ctx, r.term)
}

// Poke makes the runner read its control now (it was changed in this
// process).
func (r *Runner) Poke() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// term delivers while this process holds the lease; ctx ends when the
// lease is lost or Run's context ends.
func (r *Runner) term(ctx context.Context) error {
	checkpoint, err := r.begin(ctx)
	if err != nil {
		return err
	}
	live := r.newPipeline(sluice.SinkConsumer(r.cfg.Name), checkpoint)
	var replay *pipeline
	r.mu.Lock()
	r.running, r.since = true, time.Now()
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running, r.state, r.replay = false, StateStopped, nil
		r.mu.Unlock()
		r.report(context.WithoutCancel(ctx))
	}()
	var control sluice.SinkControl
	var readAt, reportAt time.Time
	reread := true
	for {
		select {
		case <-r.poke:
			reread = true
		default:
		}
		if reread || time.Since(readAt) >= controlEvery {
			st, err := r.store.SinkState(ctx, r.cfg.Name)
			if err != nil {
				return fmt.Errorf("sink %q: read control: %w", r.cfg.Name, err)
			}
			if stopped(control) && !stopped(st.Control) {
				live.retriesNow() // resumed: what waited goes now
			}
			control, readAt, reread = st.Control, time.Now(), false
			if replay, err = r.syncReplay(ctx, replay, control.Replay); err != nil {
				return err
			}
		}
		wake, caughtUp := time.Time{}, false
		if !stopped(control) {
			wake, err = live.step(ctx)
			if err != nil {
				return err
			}
			caughtUp = live.caughtUp && live.roomy()
			if replay != nil {
				rw, err := replay.step(ctx)
				switch {
				case errors.Is(err, consumer.ErrLeaseLost):
					replay, reread = nil, true // the replay was asked for again meanwhile
				case err != nil:
					return err
				case replay.done():
					if err := r.finishReplay(ctx, replay); err != nil {
						return err
					}
					replay, reread = nil, true
				default:
					wake = earliest(wake, rw)
				}
			}
		}
		if r.setState(control, live, replay) || time.Since(reportAt) >= controlEvery {
			r.report(ctx)
			reportAt = time.Now()
		}
		if !wake.IsZero() && !wake.After(time.Now()) {
			continue
		}
		if r.wait(ctx, wake, caughtUp, live.cursor.Position()) {
			reread = true
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// stopped reports whether the control keeps the sink from delivering.
func stopped(c sluice.SinkControl) bool { return c.Paused || c.Disabled != "" }

// earliest returns the earlier of two wake times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// begin returns the checkpoint the term starts from. A sink met for the
// first time starts where its configuration says.
func (r *Runner) begin(ctx context.Context) (sluice.Position, error) {
	name := sluice.SinkConsumer(r.cfg.Name)
	st, err := r.store.SinkState(ctx, r.cfg.Name)
	if err != nil {
		return 0, fmt.Errorf("sink %q: read control: %w", r.cfg.Name, err)
	}
	cp, err := r.store.Checkpoint(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("sink %q: read checkpoint: %w", r.cfg.Name, err)
	}
	if st.Revision > 0 {
		return cp, nil
	}
	end, start, _ := parseStart(r.cfg.Start) // validated
	if end {
		if start, err = r.store.Head(ctx); err != nil {
			return 0, fmt.Errorf("sink %q: %w", r.cfg.Name, err)
		}
	}
	if cp == 0 && start > 0 {
		if err := r.store.SetCheckpoint(ctx, name, 0, start); err != nil {
			return 0, fmt.Errorf("sink %q: set its start: %w", r.cfg.Name, err)
		}
		cp = start
		r.log.Info("sink: new, starting after", "position", start)
	}
	if _, err := r.store.SetSinkControl(ctx, r.cfg.Name, 0, sluice.SinkControl{}); err != nil && !errors.Is(err, sluice.ErrRevisionConflict) {
		return 0, fmt.Errorf("sink %q: %w", r.cfg.Name, err)
	}
	return cp, nil
}

// record turns an event read into the record to deliver: nil when the
// transform drops it, with a permanent error when it can never be
// delivered.
func (r *Runner) record(ctx context.Context, ev *sluice.Event, now time.Time) *record {
	rec := &record{ev: *ev, readAt: now}
	if r.transform == nil {
		rec.body = ev.AppendJSON(make([]byte, 0, ev.Size()+jsonOverhead))
	} else {
		body, keep, err := r.transform.Apply(ctx, ev)
		switch {
		case err != nil:
			rec.err = sluice.Permanent(err)
			return rec
		case !keep:
			return nil
		}
		rec.body = body
	}
	if limit := r.limits.MaxRecordBytes; limit > 0 && len(rec.body) > limit {
		rec.err = sluice.Permanent(fmt.Errorf("a record of %d bytes is over the %s destination's limit of %d", len(rec.body), r.cfg.Type, limit))
	}
	return rec
}

// wait returns at wake (zero: within controlEvery), at the next commit
// after head when commits is set, when ctx ends, or when the runner is
// poked (it then returns true).
func (r *Runner) wait(ctx context.Context, wake time.Time, commits bool, head sluice.Position) (poked bool) {
	d := controlEvery
	if !wake.IsZero() {
		d = min(d, time.Until(wake))
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan bool, 1)
	go func() {
		select {
		case <-r.poke:
			cancel()
			done <- true
		case <-wctx.Done():
			done <- false
		}
	}()
	if commits {
		r.store.WaitHead(wctx, head) // an error is the timeout, the poke or the end
	} else {
		<-wctx.Done()
	}
	cancel()
	return <-done
}

// syncReplay returns the pipeline of the replay that the control asks for:
// cur when it is that one, a new one from the replay's checkpoint when the
// control asks for another, nil when it asks for none.
func (r *Runner) syncReplay(ctx context.Context, cur *pipeline, want *sluice.SinkReplay) (*pipeline, error) {
	if want == nil {
		return nil, nil
	}
	if cur != nil && cur.replay == want.ID {
		return cur, nil
	}
	name := sluice.SinkReplayConsumer(r.cfg.Name)
	cp, err := r.store.Checkpoint(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("sink %q: read the replay's checkpoint: %w", r.cfg.Name, err)
	}
	p := r.newPipeline(name, cp)
	p.through, p.replay = want.Through, want.ID
	r.mu.Lock()
	r.replay = &ReplayProgress{ID: want.ID, After: want.After, Through: want.Through, Position: cp, RequestedAt: want.RequestedAt}
	r.mu.Unlock()
	r.log.Info("sink: replay", "id", want.ID, "after", want.After, "through", want.Through, "from", cp)
	return p, nil
}

// finishReplay clears the control's replay once p has delivered it all.
func (r *Runner) finishReplay(ctx context.Context, p *pipeline) error {
	err := r.changeControl(ctx, func(c *sluice.SinkControl) bool {
		if c.Replay == nil || c.Replay.ID != p.replay {
			return false // replaced meanwhile
		}
		c.Replay = nil
		return true
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.replay != nil {
		done := *r.replay
		done.Position, done.DoneAt = p.watermark(), time.Now().UTC()
		r.lastReplay, r.replay = &done, nil
	}
	r.mu.Unlock()
	r.log.Info("sink: replay done", "id", p.replay, "through", p.through)
	return nil
}

// disable records that the destination asked for no more deliveries.
func (r *Runner) disable(ctx context.Context, cause error) error {
	r.log.Error("sink: disabled by its destination; resume it once the destination takes deliveries again", "err", cause)
	err := r.changeControl(ctx, func(c *sluice.SinkControl) bool {
		c.Disabled, c.DisabledAt = cause.Error(), time.Now().UTC()
		return true
	})
	r.Poke()
	return err
}

// changeControl applies change to the sink's control (compare-and-set,
// tried again when another change came first); change returns false to
// leave it.
func (r *Runner) changeControl(ctx context.Context, change func(*sluice.SinkControl) bool) error {
	return ChangeControl(ctx, r.store, r.cfg.Name, change)
}

// ChangeControl applies change to the sink's control in the store
// (compare-and-set, tried again when another change came first); change
// returns false to leave the control as it is.
func ChangeControl(ctx context.Context, store sluice.Sinks, name string, change func(*sluice.SinkControl) bool) error {
	for {
		st, err := store.SinkState(ctx, name)
		if err != nil {
			return fmt.Errorf("sink %q: read control: %w", name, err)
		}
		if !change(&st.Control) {
			return nil
		}
		_, err = store.SetSinkControl(ctx, name, st.Revision, st.Control)
		if !errors.Is(err, sluice.ErrRevisionConflict) {
			if err != nil {
				return fmt.Errorf("sink %q: %w", name, err)
			}
			return nil
		}
	}
}

// failed records err as the sink's last error.
func (r *Runner) failed(err error, at time.Time) {
	r.mu.Lock()
	r.lastErr, r.lastErrAt = err.Error(), at.UTC()
	r.mu.Unlock()
}

// reopensAt is when the open breaker lets a probe through; zero when it is
// not open.
func (r *Runner) reopensAt() time.Time {
	if r.breaker.State() != gobreaker.StateOpen {
		return time.Time{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.openedAt.Add(r.cfg.Breaker.OpenFor)
}

// setState works out the state the sink is in, and reports whether it
// changed.
func (r *Runner) setState(c sluice.SinkControl, live, replay *pipeline) bool {
	state := StateRunning
	switch {
	case c.Disabled != "":
		state = StateDisabled
	case c.Paused:
		state = StateStopped
	case r.breaker.State() != gobreaker.StateClosed:
		state = StateCircuitOpen
	case live.backingOff() || replay != nil && replay.backingOff():
		state = StateBackingOff
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := r.state != state
	r.state, r.pending = state, len(live.pending)
	if replay != nil && r.replay != nil {
		r.replay.Position = replay.watermark()
	}
	return changed
}

// Status is what the process running a sink reports of it, kept in the
// store for every process to read.
type Status struct {
	State       string          `json:"state"`
	Node        string          `json:"node"`
	Since       time.Time       `json:"since,omitzero"`
	LastError   string          `json:"last_error,omitempty"`
	LastErrorAt time.Time       `json:"last_error_at,omitzero"`
	Counts      Counts          `json:"counts"`
	Pending     int             `json:"pending"`
	Replay      *ReplayProgress `json:"replay,omitempty"`
	LastReplay  *ReplayProgress `json:"last_replay,omitempty"`
}

func (r *Runner) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Status{State: r.state, Node: r.node, Since: r.since.UTC(), LastError: r.lastErr, LastErrorAt: r.lastErrAt,
		Counts: r.counts.snapshot(), Pending: r.pending, Replay: r.replay, LastReplay: r.lastReplay}
}

// report writes the status to the store.
func (r *Runner) report(ctx context.Context) {
	b, _ := json.Marshal(r.status()) // a Status always encodes
	if err := r.store.SetSinkStatus(ctx, r.cfg.Name, b); err != nil && !errors.Is(err, sluice.ErrClosed) {
		r.log.Debug("sink: report status", "err", err)
	}
}

// Stats are the runner's figures in this process.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	running := r.running
	r.mu.Unlock()
	breaker := 0
	switch r.breaker.State() {
	case gobreaker.StateHalfOpen:
		breaker = 1
	case gobreaker.StateOpen:
		breaker = 2
	}
	return Stats{Name: r.cfg.Name, Counts: r.counts.snapshot(), BatchSizes: r.batchSizes.snapshot(), Latency: r.latency.snapshot(),
		Breaker: breaker, Running: running}
}
