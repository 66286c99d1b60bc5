package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice"
)

// Handler processes a batch of events. The checkpoint moves past the batch
// only once it returns nil, so a batch may be handled again after a crash
// or a move to another node (at-least-once): handlers must be idempotent,
// by event id or by position.
type Handler func(ctx context.Context, events []sluice.Event) error

// Consumer runs a Handler over the log after its checkpoint, on one
// process at a time among all that share the store.
type Consumer struct {
	// Store holds the log, the checkpoint and the lease.
	Store sluice.Store
	// Name is the checkpoint's and the lease's name.
	Name string
	// Filter selects the events handed to Handle; the others are skipped
	// and count as processed.
	Filter sluice.Filter
	// Handle is called with each batch, in log order.
	Handle Handler
	// Holder names this process in the lease; unique among the processes
	// that run the consumer.
	Holder string
	// LeaseTTL is how long the lease outlives its holder's last renewal: how
	// long the consumer stays stopped when its process dies. Default 15s.
	LeaseTTL time.Duration
	// MaxHandle is how long one Handle call may keep the lease: past it
	// the lease is no longer renewed and the call's context is cancelled,
	// so that a hung handler does not keep its consumer from a standby for
	// ever. Default 5m.
	MaxHandle time.Duration
	// Batch is the most events per Handle call. Default 100.
	Batch int
	// Logger gets the consumer's changes of state. Default slog.Default().
	Logger *slog.Logger
}

const (
	defaultLeaseTTL  = 15 * time.Second
	defaultBatch     = 100
	defaultMaxHandle = 5 * time.Minute
	// While the store is unavailable, the consumer tries again after
	// minBackoff, doubled after each failure up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Run handles batches until ctx ends (it returns ctx's error), the handler
// fails (it returns that error, the batch not checkpointed), or the store
// fails. While another process holds the lease it waits, trying again
// every third of LeaseTTL, and takes over from the checkpoint once the
// lease is released or expires. It releases the lease when it returns.
func (c *Consumer) Run(ctx context.Context) error {
	if c.Store == nil || c.Handle == nil || c.Name == "" || c.Holder == "" {
		return errors.New("consumer: Store, Name, Handle and Holder are required")
	}
	l := &Leader{Leases: c.Store, Name: c.Name, Holder: c.Holder, TTL: c.LeaseTTL, Logger: c.Logger}
	return l.run(ctx, c.term)
}

// term handles batches while this process holds the lease (t). ctx ends
// when the lease is lost or Run's context ends.
func (c *Consumer) term(ctx context.Context, t *term) error {
	checkpoint, err := c.Store.Checkpoint(ctx, c.Name)
	if err != nil {
		return fmt.Errorf("consumer %q: %w", c.Name, err)
	}
	cur := NewCursor(c.Store, checkpoint, c.Filter, cmpOr(c.Batch, defaultBatch))
	for {
		// Wake at least every third of the TTL, so that the checkpoint
		// moves past events the filter skipped.
		wctx, cancel := context.WithTimeout(ctx, t.ttl/3)
		evs, err := cur.Next(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// No events kept meanwhile: the filter may have skipped some.
		case err != nil:
			return fmt.Errorf("consumer %q: %w", c.Name, err)
		}
		if len(evs) > 0 {
			if err := c.handle(ctx, t, evs); err != nil {
				return err
			}
		}
		if cur.Position() == checkpoint {
			continue
		}
		// A batch handled is checkpointed even when Run's context ended
		// meanwhile (a shutdown): its events are not handled twice.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.ttl/3)
		err = c.Store.SetCheckpoint(sctx, c.Name, checkpoint, cur.Position())
		cancel()
		switch {
		case errors.Is(err, sluice.ErrCheckpointConflict):
			return fmt.Errorf("consumer %q: %w", c.Name, ErrLeaseLost) // another holder has moved it
		case err != nil:
			return fmt.Errorf("consumer %q: %w", c.Name, err)
		}
		checkpoint = cur.Position()
	}
}

// handle runs Handle over evs, letting the lease be renewed for MaxHandle
// at most: past it the renewals stop and the handler's context is
// cancelled, so that a hung handler gives its consumer up to a standby.
// When the lease is lost meanwhile it returns ErrLeaseLost: the batch is
// not checkpointed.
func (c *Consumer) handle(ctx context.Context, t *term, evs []sluice.Event) error {
	if t.expired() {
		return fmt.Errorf("consumer %q: %w", c.Name, ErrLeaseLost) // the handler must not run without the lease
	}
	t.limit(cmpOr(c.MaxHandle, defaultMaxHandle))
	err := c.Handle(ctx, evs)
	t.limit(0)
	switch {
	case t.isLost():
		return fmt.Errorf("consumer %q: %w", c.Name, ErrLeaseLost)
	case err != nil:
		return fmt.Errorf("consumer %q: handle events %d–%d: %w", c.Name, evs[0].Position, evs[len(evs)-1].Position, err)
	}
	return nil
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

// cmpOr returns v, or def when v is not positive.
func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
