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

// errLeaseLost ends a term when another holder has taken the lease or
// moved the checkpoint.
var errLeaseLost = errors.New("lease lost")

// Run handles batches until ctx ends (it returns ctx's error), the handler
// fails (it returns that error, the batch not checkpointed), or the store
// fails. While another process holds the lease it waits, trying again
// every third of LeaseTTL, and takes over from the checkpoint once the
// lease is released or expires. It releases the lease when it returns.
func (c *Consumer) Run(ctx context.Context) error {
	if c.Store == nil || c.Handle == nil || c.Name == "" || c.Holder == "" {
		return errors.New("consumer: Store, Name, Handle and Holder are required")
	}
	ttl := cmpOr(c.LeaseTTL, defaultLeaseTTL)
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("consumer", c.Name, "holder", c.Holder)
	defer func() {
		// Give the lease up for the next holder, even though ctx has ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl/3)
		defer cancel()
		if err := c.Store.ReleaseLease(rctx, c.Name, c.Holder); err != nil && !errors.Is(err, sluice.ErrClosed) {
			log.Warn("consumer: release lease", "err", err)
		}
	}()
	backoff := minBackoff
	for {
		lease, err := c.Store.AcquireLease(ctx, c.Name, c.Holder, ttl)
		if err == nil {
			log.Info("consumer: lease taken", "expires", lease.Expires)
			err = c.term(ctx, lease, ttl)
		}
		var held *sluice.LeaseHeldError
		wait := ttl / 3
		switch {
		case errors.As(err, &held):
			backoff = minBackoff // another process runs the consumer: stand by
		case errors.Is(err, errLeaseLost):
			log.Warn("consumer: lease lost; standing by")
			backoff = minBackoff
		case errors.Is(err, sluice.ErrUnavailable):
			log.Warn("consumer: store unavailable", "err", err, "retry_in", backoff)
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		default:
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// term handles batches while this process holds the lease, renewing it
// every third of ttl. It returns errLeaseLost when another holder has taken
// over.
func (c *Consumer) term(ctx context.Context, lease sluice.Lease, ttl time.Duration) error {
	checkpoint, err := c.Store.Checkpoint(ctx, c.Name)
	if err != nil {
		return fmt.Errorf("consumer %q: %w", c.Name, err)
	}
	cur := NewCursor(c.Store, checkpoint, c.Filter, cmpOr(c.Batch, defaultBatch))
	renewAt := time.Now().Add(ttl / 3)
	for {
		if !time.Now().Before(renewAt) {
			if lease, err = c.renew(ctx, ttl); err != nil {
				return err
			}
			renewAt = time.Now().Add(ttl / 3)
		}
		// Wait for events no longer than the next renewal, and never past
		// the lease's expiry.
		wctx, cancel := context.WithDeadline(ctx, renewAt)
		evs, err := cur.Next(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// No events until the renewal: the filter may have skipped some.
		case err != nil:
			return fmt.Errorf("consumer %q: %w", c.Name, err)
		}
		if len(evs) > 0 {
			if time.Now().After(lease.Expires) {
				return errLeaseLost // the handler must not run without the lease
			}
			renewed, err := c.handle(ctx, evs, lease, ttl)
			if err != nil {
				return err
			}
			if !renewed.Expires.IsZero() {
				lease, renewAt = renewed, time.Now().Add(ttl/3)
			}
		}
		if cur.Position() == checkpoint {
			continue
		}
		// A batch handled is checkpointed even when ctx ended meanwhile
		// (a shutdown): its events are not handled twice.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl/3)
		err = c.Store.SetCheckpoint(sctx, c.Name, checkpoint, cur.Position())
		cancel()
		switch {
		case errors.Is(err, sluice.ErrCheckpointConflict):
			return errLeaseLost // another holder has moved it
		case err != nil:
			return fmt.Errorf("consumer %q: %w", c.Name, err)
		}
		checkpoint = cur.Position()
	}
}

// handle runs Handle over evs while it renews the lease every third of
// ttl, so that a handler slower than the TTL (a sink retrying) keeps its
// lease, for MaxHandle at most. When the lease is lost, cannot be renewed
// before it expires (the store is down), or MaxHandle has passed, the
// handler's context is cancelled and handle returns errLeaseLost: the
// handler must not go on without the lease. It returns the last lease
// renewed, zero if none was due.
func (c *Consumer) handle(ctx context.Context, evs []sluice.Event, lease sluice.Lease, ttl time.Duration) (sluice.Lease, error) {
	hctx, cancel := context.WithCancel(ctx)
	giveUp := time.Now().Add(cmpOr(c.MaxHandle, defaultMaxHandle))
	var renewed sluice.Lease
	lost := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
			}
			if time.Now().After(giveUp) {
				lost = true
				cancel()
				return
			}
			l, err := c.renew(hctx, ttl)
			switch {
			case err == nil:
				renewed, lease = l, l
			case hctx.Err() != nil:
				return // the handler has returned
			case errors.Is(err, errLeaseLost) || time.Now().After(lease.Expires):
				lost = true
				cancel()
				return
			}
		}
	}()
	err := c.Handle(hctx, evs)
	cancel()
	<-done
	switch {
	case lost:
		return renewed, errLeaseLost
	case err != nil:
		return renewed, fmt.Errorf("consumer %q: handle events %d–%d: %w", c.Name, evs[0].Position, evs[len(evs)-1].Position, err)
	}
	return renewed, nil
}

// renew extends the lease, or returns errLeaseLost when another holder has
// it.
func (c *Consumer) renew(ctx context.Context, ttl time.Duration) (sluice.Lease, error) {
	lease, err := c.Store.AcquireLease(ctx, c.Name, c.Holder, ttl)
	if errors.Is(err, sluice.ErrLeaseHeld) {
		return lease, errLeaseLost
	}
	if err != nil {
		return lease, fmt.Errorf("consumer %q: renew lease: %w", c.Name, err)
	}
	return lease, nil
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
