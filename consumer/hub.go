package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
)

// skippedAnswer is how long a long poll goes on after its filter has
// skipped events without finding one it keeps.
const skippedAnswer = time.Second

// ErrBeyondHead: an acknowledgement named a position the log has not
// reached.
var ErrBeyondHead = errors.New("position beyond the log head")

// Start says where a new subscription begins. The zero value is the
// beginning of the log.
type Start struct {
	// End starts after the last event in the log when the subscription is
	// created.
	End bool
	// After starts after this position, as if everything up to it had been
	// processed.
	After sluice.Position
}

// State is a subscription as its readers and the metrics see it.
type State struct {
	sluice.Subscription
	// Checkpoint: every event up to it has been processed.
	Checkpoint sluice.Position `json:"checkpoint"`
	// Head is the log's last position.
	Head sluice.Position `json:"head"`
	// LagEvents counts the events after the checkpoint, those the filter
	// will skip included.
	LagEvents uint64 `json:"lag_events"`
	// LagSeconds is the age of the first event after the checkpoint; 0
	// when there is none.
	LagSeconds float64 `json:"lag_seconds"`
	// HoldSeconds is how long the oldest batch delivered by this process
	// has waited for its acknowledgement; 0 when none waits.
	HoldSeconds float64 `json:"hold_seconds"`
}

// Batch is what a reader gets from Next.
type Batch struct {
	// Events are the next events the filter keeps, in log order.
	Events []sluice.Event
	// Position is what to acknowledge once Events are processed: every
	// event up to it was delivered or skipped by the filter. It is above
	// the checkpoint even without events when the filter skipped some.
	Position sluice.Position
	// Checkpoint is the subscription's checkpoint the batch was read after.
	Checkpoint sluice.Position
}

// Hub serves durable subscriptions to remote readers. A subscription has
// one reader at a time: the holder of its lease, taken by Next and Ack and
// renewed by them (and through Next's long poll), which expires between
// half of ReaderTTL and ReaderTTL after the holder's last call, or at
// Release. It is safe for concurrent use.
type Hub struct {
	store     sluice.Store
	readerTTL time.Duration
	// startAtFirst: a subscription behind the log's first position goes on
	// from it (counted in skipped) instead of failing with
	// *sluice.GoneError.
	startAtFirst bool
	skipped      atomic.Uint64

	mu sync.Mutex
	// leases are the leases this process has granted, to renew them only
	// when half their time has passed instead of at every call.
	leases map[string]sluice.Lease
	// holds are the batches this process delivered and that wait for
	// their acknowledgement.
	holds map[string]hold
}

// hold is a subscription's delivered, unacknowledged events.
type hold struct {
	since time.Time       // when the oldest of them was first delivered
	upTo  sluice.Position // the last of them
}

// NewHub serves the subscriptions of store; readerTTL is how long a reader
// keeps a subscription after its last call.
func NewHub(store sluice.Store, readerTTL time.Duration) *Hub {
	return &Hub{store: store, readerTTL: readerTTL, leases: map[string]sluice.Lease{}, holds: map[string]hold{}}
}

// StartAtFirst makes a subscription whose checkpoint is before the log's
// first position (retention removed what it had not read) go on from it,
// instead of every read failing with a *sluice.GoneError. Call it before
// the hub is used.
func (h *Hub) StartAtFirst() { h.startAtFirst = true }

// Skipped counts the positions subscriptions passed over that way.
func (h *Hub) Skipped() uint64 { return h.skipped.Load() }

// Put creates the subscription name at start, or replaces the filter of
// the existing one (keeping its checkpoint). It reports whether it created
// it.
func (h *Hub) Put(ctx context.Context, name string, f sluice.Filter, start Start) (State, bool, error) {
	head, err := h.store.Head(ctx)
	if err != nil {
		return State{}, false, err
	}
	pos := start.After
	switch {
	case start.End:
		pos = head
	case pos > head:
		return State{}, false, fmt.Errorf("start after %d, head %d: %w", pos, head, ErrBeyondHead)
	}
	sub, created, err := h.store.PutSubscription(ctx, sluice.Subscription{Name: name, Filter: f, Start: pos})
	if err != nil {
		return State{}, false, err
	}
	if created {
		h.forget(name)
	}
	st, err := h.state(ctx, sub)
	return st, created, err
}

// Get returns the state of the subscription name.
func (h *Hub) Get(ctx context.Context, name string) (State, error) {
	sub, err := h.store.Subscription(ctx, name)
	if err != nil {
		return State{}, err
	}
	return h.state(ctx, sub)
}

// List returns the states of up to limit subscriptions whose names sort
// after the name after.
func (h *Hub) List(ctx context.Context, after string, limit int) ([]State, error) {
	subs, err := h.store.ListSubscriptions(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	states := make([]State, 0, len(subs))
	for _, sub := range subs {
		st, err := h.state(ctx, sub)
		if err != nil {
			return nil, err
		}
		states = append(states, st)
	}
	return states, nil
}

// Delete removes the subscription with its checkpoint.
func (h *Hub) Delete(ctx context.Context, name string) error {
	if err := h.store.DeleteSubscription(ctx, name); err != nil {
		return err
	}
	h.forget(name)
	return nil
}

// Next returns the events after the subscription's checkpoint for reader,
// waiting up to wait for some when there are none. It returns a
// *sluice.LeaseHeldError when another reader holds the subscription.
// Without an acknowledgement, the next call returns the same events.
func (h *Hub) Next(ctx context.Context, name, reader string, limit int, wait time.Duration) (Batch, error) {
	sub, err := h.store.Subscription(ctx, name)
	if err != nil {
		return Batch{}, err
	}
	if err := h.take(ctx, sub.ConsumerName(), reader); err != nil {
		return Batch{}, err
	}
	checkpoint, err := h.store.Checkpoint(ctx, sub.ConsumerName())
	if err != nil {
		return Batch{}, err
	}
	cur := NewCursor(h.store, checkpoint, sub.Filter, limit)
	if h.startAtFirst {
		cur.SkipGone(func(n uint64) { h.skipped.Add(n) })
	}
	evs, err := cur.Read(ctx)
	// The long poll renews the lease as it goes, so that the lease ends
	// ReaderTTL after the call whatever its wait. It ends early, without
	// events, once the filter has skipped some for skippedAnswer: the
	// reader acknowledges the position, and the checkpoint and lag of a
	// selective subscription stay current.
	start := time.Now()
	for end := start.Add(wait); err == nil && len(evs) == 0 && time.Now().Before(end); {
		if cur.Position() > checkpoint && time.Since(start) >= skippedAnswer {
			break
		}
		chunk := min(time.Until(end), h.readerTTL/2)
		if !sub.Filter.IsZero() {
			chunk = min(chunk, skippedAnswer)
		}
		wctx, cancel := context.WithTimeout(ctx, chunk)
		evs, err = cur.Next(wctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = h.take(ctx, sub.ConsumerName(), reader)
		}
	}
	if err != nil {
		return Batch{}, err
	}
	if len(evs) > 0 {
		h.held(name, cur.Position())
	}
	return Batch{Events: evs, Position: cur.Position(), Checkpoint: checkpoint}, nil
}

// Ack moves the subscription's checkpoint to p for reader and returns the
// checkpoint. A position behind the checkpoint changes nothing (a late or
// repeated acknowledgement); one beyond the head is ErrBeyondHead.
func (h *Hub) Ack(ctx context.Context, name, reader string, p sluice.Position) (sluice.Position, error) {
	sub, err := h.store.Subscription(ctx, name)
	if err != nil {
		return 0, err
	}
	if err := h.take(ctx, sub.ConsumerName(), reader); err != nil {
		return 0, err
	}
	if err := h.reached(ctx, p); err != nil {
		return 0, err
	}
	for {
		checkpoint, err := h.store.Checkpoint(ctx, sub.ConsumerName())
		if err != nil || p <= checkpoint {
			return checkpoint, err
		}
		err = h.store.SetCheckpoint(ctx, sub.ConsumerName(), checkpoint, p)
		if errors.Is(err, sluice.ErrCheckpointConflict) {
			continue
		}
		if err != nil {
			return 0, err
		}
		h.acked(name, p)
		return p, nil
	}
}

// reached returns nil when the log's head is at p or beyond, and
// ErrBeyondHead when it is not within a second: a reader may have read an
// event of a commit whose head is not yet published.
func (h *Hub) reached(ctx context.Context, p sluice.Position) error {
	if p == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	head, err := h.store.WaitHead(wctx, p-1)
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("position %d, head %d: %w", p, head, ErrBeyondHead)
	}
	return err
}

// Wait returns once the subscription has processed every event up to p,
// the events its filter skips counting as processed, and returns its
// checkpoint; it returns ctx's error when ctx ends first.
func (h *Hub) Wait(ctx context.Context, name string, p sluice.Position) (sluice.Position, error) {
	sub, err := h.store.Subscription(ctx, name)
	if err != nil {
		return 0, err
	}
	// Until the head reaches p, events up to p may still be committed.
	if p > 0 {
		if _, err := h.store.WaitHead(ctx, p-1); err != nil {
			return 0, err
		}
	}
	checkpoint, err := h.store.Checkpoint(ctx, sub.ConsumerName())
	// next is the first event after the checkpoint that the filter keeps,
	// once known: the checkpoint covers p when next is beyond p.
	var next sluice.Position
	for err == nil {
		if checkpoint >= p {
			return checkpoint, nil
		}
		if next <= checkpoint && !sub.Filter.IsZero() {
			evs, _, err := sluice.ReadLogFrom(ctx, h.store, checkpoint, sub.Filter, 1)
			if err != nil {
				return 0, err
			}
			if len(evs) == 0 || evs[0].Position > p {
				return checkpoint, nil
			}
			next = evs[0].Position
		}
		var moved sluice.Position
		moved, err = h.store.WaitCheckpoint(ctx, sub.ConsumerName(), checkpoint)
		if err == nil && moved < checkpoint {
			// Deleted, perhaps recreated: start over.
			return h.Wait(ctx, name, p)
		}
		checkpoint = moved
	}
	return checkpoint, err
}

// States returns the state of every subscription, for the metrics.
func (h *Hub) States(ctx context.Context) ([]State, error) {
	const page = 100
	var all []State
	after := ""
	for {
		states, err := h.List(ctx, after, page)
		if err != nil {
			return nil, err
		}
		all = append(all, states...)
		if len(states) < page {
			return all, nil
		}
		after = states[len(states)-1].Name
	}
}

// state completes sub with its checkpoint, lag and holds.
func (h *Hub) state(ctx context.Context, sub sluice.Subscription) (State, error) {
	st := State{Subscription: sub}
	var err error
	if st.Head, err = h.store.Head(ctx); err != nil {
		return State{}, err
	}
	if st.Checkpoint, err = h.store.Checkpoint(ctx, sub.ConsumerName()); err != nil {
		return State{}, err
	}
	if st.Head > st.Checkpoint {
		st.LagEvents = uint64(st.Head - st.Checkpoint)
		evs, _, err := sluice.ReadLogFrom(ctx, h.store, st.Checkpoint, sluice.Filter{}, 1)
		if err != nil {
			return State{}, err
		}
		if len(evs) > 0 {
			st.LagSeconds = max(0, time.Since(evs[0].RecordedAt).Seconds())
		}
	}
	h.mu.Lock()
	if hd, ok := h.holds[sub.Name]; ok {
		st.HoldSeconds = time.Since(hd.since).Seconds()
	}
	h.mu.Unlock()
	return st, nil
}

// take makes sure reader holds the lease of consumer name for ReaderTTL
// from now; it renews the lease only when half of that has passed.
func (h *Hub) take(ctx context.Context, name, reader string) error {
	h.mu.Lock()
	l, ok := h.leases[name]
	h.mu.Unlock()
	if ok && l.Holder == reader && time.Until(l.Expires) > h.readerTTL/2 {
		return nil
	}
	l, err := h.store.AcquireLease(ctx, name, reader, h.readerTTL)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.leases[name] = l
	h.mu.Unlock()
	return nil
}

// Release gives the subscription up if reader holds it, so that another
// reader can take it at once rather than when the lease expires.
func (h *Hub) Release(ctx context.Context, name, reader string) error {
	sub, err := h.store.Subscription(ctx, name)
	if err != nil {
		return err
	}
	h.mu.Lock()
	if l, ok := h.leases[sub.ConsumerName()]; ok && l.Holder == reader {
		delete(h.leases, sub.ConsumerName())
	}
	h.mu.Unlock()
	return h.store.ReleaseLease(ctx, sub.ConsumerName(), reader)
}

// held records that events up to p of subscription name were delivered.
func (h *Hub) held(name string, p sluice.Position) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hd, ok := h.holds[name]
	if !ok {
		hd.since = time.Now()
	}
	hd.upTo = max(hd.upTo, p)
	h.holds[name] = hd
}

// acked records that subscription name's checkpoint moved to p: the
// batches up to it are no longer held.
func (h *Hub) acked(name string, p sluice.Position) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hd, ok := h.holds[name]
	if ok && p >= hd.upTo {
		delete(h.holds, name)
	}
}

// forget drops what this process knows of subscription name's reader and
// holds.
func (h *Hub) forget(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.leases, sluice.SubscriptionConsumer(name))
	delete(h.holds, name)
}
