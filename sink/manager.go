package sink

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
)

// ErrNotFound: no sink of that name is configured.
var ErrNotFound = errors.New("sink not found")

// ErrNothingToReplay: a replay asked for no event that the sink has
// delivered (it starts after its checkpoint).
var ErrNothingToReplay = errors.New("nothing to replay")

// staleAfter is how old a sink's status may be before the API says that no
// process runs it.
const staleAfter = 5 * controlEvery

// restartDelay is how long a runner that stopped with an error waits
// before it starts again.
const restartDelay = 5 * time.Second

// Manager runs the configured sinks of one process and answers for them:
// their states, pauses, replays and dead letters. Its methods are safe
// for concurrent use.
type Manager struct {
	store   sluice.Store
	log     *slog.Logger
	runners []*Runner // in name order
	byName  map[string]*Runner
}

// NewManager returns a manager of no sinks over store.
func NewManager(store sluice.Store, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.Default()
	}
	return &Manager{store: store, log: log, byName: map[string]*Runner{}}
}

// Add adds the runner of a sink; names are unique.
func (m *Manager) Add(r *Runner) error {
	if _, dup := m.byName[r.cfg.Name]; dup {
		return fmt.Errorf("sink %q: configured twice", r.cfg.Name)
	}
	m.byName[r.cfg.Name] = r
	i, _ := slices.BinarySearchFunc(m.runners, r.cfg.Name, func(r *Runner, name string) int { return strings.Compare(r.cfg.Name, name) })
	m.runners = slices.Insert(m.runners, i, r)
	return nil
}

// Run runs every sink until ctx ends, each on its own: one that fails
// is logged and started again after a delay, and never holds up another.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range m.runners {
		wg.Go(func() {
			for {
				err := r.Run(ctx)
				if ctx.Err() != nil {
					return
				}
				r.log.Error("sink: stopped; starting again", "err", err, "in", restartDelay)
				r.failed(err, time.Now())
				if err := sleep(ctx, restartDelay); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

// Close closes every sink.
func (m *Manager) Close() error {
	var errs []error
	for _, r := range m.runners {
		if err := r.sink.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sink %q: close: %w", r.cfg.Name, err))
		}
	}
	return errors.Join(errs...)
}

// runner returns the named sink's runner.
func (m *Manager) runner(name string) (*Runner, error) {
	r, ok := m.byName[name]
	if !ok {
		return nil, fmt.Errorf("sink %q: %w", name, ErrNotFound)
	}
	return r, nil
}

// State is what the API shows of a sink: its configuration, its control,
// where its checkpoint is, and what the process running it reported.
type State struct {
	Name      string        `json:"name"`
	Type      string        `json:"type"`
	Filter    sluice.Filter `json:"filter"`
	Transform string        `json:"transform,omitempty"`
	// State is running, backing_off, circuit_open, disabled or stopped.
	State      string    `json:"state"`
	Paused     bool      `json:"paused"`
	Disabled   string    `json:"disabled,omitempty"`
	DisabledAt time.Time `json:"disabled_at,omitzero"`
	// Node is the process that runs the sink, "" when none does.
	Node string `json:"node,omitempty"`
	// Position is the checkpoint: every event up to it was delivered,
	// dead-lettered or skipped.
	Position sluice.Position `json:"position"`
	Head     sluice.Position `json:"head"`
	// LagEvents counts the events after the checkpoint (those the filter
	// skips included); LagSeconds is the age of the first of them.
	LagEvents   uint64    `json:"lag_events"`
	LagSeconds  float64   `json:"lag_seconds"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Counts are the running process's, since it took the sink.
	Counts      Counts          `json:"counts"`
	Pending     int             `json:"pending"`
	DeadLetters int64           `json:"dead_letters"`
	Replay      *ReplayProgress `json:"replay,omitempty"`
	LastReplay  *ReplayProgress `json:"last_replay,omitempty"`
	ReportedAt  time.Time       `json:"reported_at,omitzero"`
}

// States returns the state of every sink, in name order.
func (m *Manager) States(ctx context.Context) ([]State, error) {
	out := make([]State, 0, len(m.runners))
	for _, r := range m.runners {
		st, err := m.state(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// State returns the named sink's state.
func (m *Manager) State(ctx context.Context, name string) (State, error) {
	r, err := m.runner(name)
	if err != nil {
		return State{}, err
	}
	return m.state(ctx, r)
}

func (m *Manager) state(ctx context.Context, r *Runner) (State, error) {
	name := r.cfg.Name
	st := State{Name: name, Type: r.cfg.Type, Filter: r.filter, Transform: r.cfg.Transform}
	stored, err := m.store.SinkState(ctx, name)
	if err != nil {
		return st, fmt.Errorf("sink %q: %w", name, err)
	}
	var status Status
	if stored.Status != nil {
		if err := json.Unmarshal(stored.Status, &status); err != nil {
			return st, fmt.Errorf("sink %q: status: %w", name, err)
		}
	}
	c := stored.Control
	st.Paused, st.Disabled, st.DisabledAt = c.Paused, c.Disabled, c.DisabledAt
	st.LastError, st.LastErrorAt, st.Counts, st.LastReplay = status.LastError, status.LastErrorAt, status.Counts, status.LastReplay
	st.ReportedAt = stored.StatusAt
	st.State = StateStopped
	if status.State != "" && status.State != StateStopped && time.Since(stored.StatusAt) < staleAfter {
		st.State, st.Node, st.Pending, st.Replay = status.State, status.Node, status.Pending, status.Replay
	}
	switch {
	case c.Disabled != "":
		st.State = StateDisabled
	case c.Paused:
		st.State = StateStopped
	}
	if st.Replay == nil && c.Replay != nil {
		st.Replay = &ReplayProgress{ID: c.Replay.ID, After: c.Replay.After, Through: c.Replay.Through, RequestedAt: c.Replay.RequestedAt}
	}
	if st.Position, err = m.store.Checkpoint(ctx, sluice.SinkConsumer(name)); err != nil {
		return st, fmt.Errorf("sink %q: %w", name, err)
	}
	if st.Head, err = m.store.Head(ctx); err != nil {
		return st, fmt.Errorf("sink %q: %w", name, err)
	}
	if st.Head > st.Position {
		st.LagEvents = uint64(st.Head - st.Position)
		next, _, err := sluice.ReadLogFrom(ctx, m.store, st.Position, sluice.Filter{}, 1)
		if err != nil {
			return st, fmt.Errorf("sink %q: %w", name, err)
		}
		if len(next) > 0 {
			st.LagSeconds = max(0, since(next[0].RecordedAt))
		}
	}
	if st.DeadLetters, err = m.store.CountDeadLetters(ctx, name); err != nil {
		return st, fmt.Errorf("sink %q: %w", name, err)
	}
	return st, nil
}

// Pause stops the sink's deliveries, on whichever process runs it, until
// Resume.
func (m *Manager) Pause(ctx context.Context, name string) (State, error) {
	return m.change(ctx, name, func(c *sluice.SinkControl) bool {
		c.Paused = true
		return true
	})
}

// Resume lets a paused sink, or one its destination disabled, deliver
// again; records waiting for a retry go at once.
func (m *Manager) Resume(ctx context.Context, name string) (State, error) {
	return m.change(ctx, name, func(c *sluice.SinkControl) bool {
		c.Paused, c.Disabled, c.DisabledAt = false, "", time.Time{}
		return true
	})
}

// change applies change to the sink's control, wakes its runner when it
// runs here, and returns its state.
func (m *Manager) change(ctx context.Context, name string, change func(*sluice.SinkControl) bool) (State, error) {
	r, err := m.runner(name)
	if err != nil {
		return State{}, err
	}
	if err := ChangeControl(ctx, m.store, name, change); err != nil {
		return State{}, err
	}
	r.Poke()
	return m.state(ctx, r)
}

// ReplayRequest says where a replay starts: at a position, or at the first
// event committed at or after a time.
type ReplayRequest struct {
	FromPosition sluice.Position
	FromTime     time.Time
}

// Replay delivers the sink's events again from the request's start up to
// its checkpoint now, on a cursor of its own beside live delivery (which
// goes on). A replay asked for while another runs replaces it. The state
// returned has the replay as Replay, or as LastReplay when it is already
// over.
func (m *Manager) Replay(ctx context.Context, name string, req ReplayRequest) (State, error) {
	if _, err := m.runner(name); err != nil {
		return State{}, err
	}
	var err error
	from := req.FromPosition
	if !req.FromTime.IsZero() {
		if from, err = consumer.PositionAt(ctx, m.store, req.FromTime); err != nil {
			return State{}, fmt.Errorf("sink %q: replay: %w", name, err)
		}
	}
	through, err := m.store.Checkpoint(ctx, sluice.SinkConsumer(name))
	if err != nil {
		return State{}, fmt.Errorf("sink %q: replay: %w", name, err)
	}
	after := max(from, 1) - 1
	if from == 0 || after >= through {
		return State{}, fmt.Errorf("sink %q: replay from %d: the sink has delivered through %d: %w", name, from, through, ErrNothingToReplay)
	}
	// The replay's cursor starts at after; a replay running meanwhile
	// finds its checkpoint moved and takes the new one.
	replayName := sluice.SinkReplayConsumer(name)
	for {
		cur, err := m.store.Checkpoint(ctx, replayName)
		if err != nil {
			return State{}, fmt.Errorf("sink %q: replay: %w", name, err)
		}
		err = m.store.SetCheckpoint(ctx, replayName, cur, after)
		if err == nil {
			break
		}
		if !errors.Is(err, sluice.ErrCheckpointConflict) {
			return State{}, fmt.Errorf("sink %q: replay: %w", name, err)
		}
	}
	replay := &sluice.SinkReplay{ID: newReplayID(), After: after, Through: through, RequestedAt: time.Now().UTC()}
	st, err := m.change(ctx, name, func(c *sluice.SinkControl) bool {
		c.Replay = replay
		return true
	})
	if err != nil {
		return st, err
	}
	// A short replay may be over before the state is read: it is then the
	// last replay. The answer names it either way.
	if st.Replay == nil && (st.LastReplay == nil || st.LastReplay.ID != replay.ID) {
		st.Replay = &ReplayProgress{ID: replay.ID, After: after, Through: through, RequestedAt: replay.RequestedAt}
	}
	return st, nil
}

// newReplayID returns a random id for a replay.
func newReplayID() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// DeadLetters lists the sink's dead letters after seq after.
func (m *Manager) DeadLetters(ctx context.Context, name string, after int64, limit int) ([]sluice.DeadLetter, error) {
	if _, err := m.runner(name); err != nil {
		return nil, err
	}
	ds, err := m.store.ListDeadLetters(ctx, sluice.DeadLetterQuery{Sink: name, After: after, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", name, err)
	}
	return ds, nil
}

// RedriveRequest selects the dead letters to deliver again: by event id,
// or the oldest Limit (default 100).
type RedriveRequest struct {
	IDs   []string
	Limit int
}

// RedriveResult is what became of a redrive.
type RedriveResult struct {
	// Redriven counts the dead letters delivered (or dropped by today's
	// transform) and removed.
	Redriven int `json:"redriven"`
	// Failed are those that failed again; they stay, with the new error.
	Failed []RedriveFailure `json:"failed"`
	// More: there are more dead letters than were tried.
	More bool `json:"more"`
}

// RedriveFailure is a dead letter that failed again.
type RedriveFailure struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// Redrive delivers dead letters again, with today's transform, from this
// process, once each (no retries: what fails stays a dead letter, with its
// new error), and removes those delivered.
func (m *Manager) Redrive(ctx context.Context, name string, req RedriveRequest) (RedriveResult, error) {
	res := RedriveResult{Failed: []RedriveFailure{}}
	r, err := m.runner(name)
	if err != nil {
		return res, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	q := sluice.DeadLetterQuery{Sink: name, IDs: req.IDs, Limit: limit + 1}
	if len(req.IDs) > 0 {
		q.Limit = len(req.IDs)
	}
	ds, err := m.store.ListDeadLetters(ctx, q)
	if err != nil {
		return res, fmt.Errorf("sink %q: redrive: %w", name, err)
	}
	if len(ds) > limit {
		ds, res.More = ds[:limit], true
	}
	var done []int64
	var again []sluice.DeadLetter
	failed := func(d sluice.DeadLetter, err error) {
		d.Attempts++
		d.Error, d.At = err.Error(), time.Time{}
		again = append(again, d)
		res.Failed = append(res.Failed, RedriveFailure{ID: d.Event.ID, Error: d.Error})
	}
	for batch := range slices.Chunk(ds, r.cfg.Batch.MaxEvents) {
		var recs []sluice.SinkRecord
		var sent []sluice.DeadLetter
		for _, d := range batch {
			switch rec := r.record(ctx, &d.Event, time.Now()); {
			case rec == nil:
				done = append(done, d.Seq)
			case rec.err != nil:
				failed(d, rec.err)
			default:
				recs, sent = append(recs, sluice.SinkRecord{Event: &d.Event, Body: rec.body}), append(sent, d)
			}
		}
		if len(recs) == 0 {
			continue
		}
		err := r.send(ctx, recs, "redrive")
		byIndex := map[int]error{}
		var partial *sluice.DeliveryError
		switch {
		case errors.As(err, &partial):
			for _, f := range partial.Failed {
				byIndex[f.Index] = f.Err
			}
		case err != nil:
			for i := range sent {
				byIndex[i] = err
			}
		}
		for i, d := range sent {
			if err, ok := byIndex[i]; ok {
				failed(d, err)
			} else {
				done = append(done, d.Seq)
			}
		}
	}
	if len(again) > 0 {
		if err := m.store.AddDeadLetters(ctx, again); err != nil {
			return res, fmt.Errorf("sink %q: redrive: %w", name, err)
		}
	}
	if len(done) > 0 {
		if err := m.store.DeleteDeadLetters(ctx, name, done); err != nil {
			return res, fmt.Errorf("sink %q: redrive: %w", name, err)
		}
	}
	res.Redriven = len(done)
	m.log.Info("sink: dead letters redriven", "sink", name, "redriven", res.Redriven, "failed", len(res.Failed))
	return res, nil
}

// Stats are the figures of the sinks this process runs (or ran).
func (m *Manager) Stats() []Stats {
	out := make([]Stats, len(m.runners))
	for i, r := range m.runners {
		out[i] = r.Stats()
	}
	return out
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
