package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// ErrLeaseLost: another holder has taken the lease, or the work found that
// it no longer has it (its checkpoint moved by someone else). Work under a
// Leader returns it (wrapped) to stand by.
var ErrLeaseLost = errors.New("lease lost")

// Leader runs work in one process at a time among all that share the
// store: while it holds the named lease.
type Leader struct {
	// Leases holds the lease.
	Leases sluice.Leases
	// Name is the lease's name.
	Name string
	// Holder names this process in the lease; unique among the processes
	// that run the work.
	Holder string
	// TTL is how long the lease outlives its holder's last renewal: how
	// long the work stays stopped when its process dies. Default 15s.
	TTL time.Duration
	// Logger gets the changes of state. Default slog.Default().
	Logger *slog.Logger
}

// Run takes the lease and calls work while it holds it, renewing it every
// third of TTL in the background. work's context ends when ctx does or
// when the lease is lost: taken by another holder, or not renewed before
// it expired (the store was down). While another holder has the lease,
// Run stands by, trying again every third of TTL, and takes over once the
// lease is released or expires.
//
// When work returns after losing the lease (or with an error wrapping
// ErrLeaseLost), Run stands by again; with an error wrapping
// sluice.ErrUnavailable it tries again after a backoff; when ctx is done
// it returns ctx's error; any other error it returns. It releases the
// lease when it returns.
func (l *Leader) Run(ctx context.Context, work func(ctx context.Context) error) error {
	return l.run(ctx, func(ctx context.Context, _ *term) error { return work(ctx) })
}

// run is Run with the term, for work that limits its renewals.
func (l *Leader) run(ctx context.Context, work func(ctx context.Context, t *term) error) error {
	if l.Leases == nil || l.Name == "" || l.Holder == "" {
		return errors.New("consumer: Leases, Name and Holder are required")
	}
	ttl := cmpOr(l.TTL, defaultLeaseTTL)
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("consumer", l.Name, "holder", l.Holder)
	defer func() {
		// Give the lease up for the next holder, even though ctx has ended.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl/3)
		defer cancel()
		if err := l.Leases.ReleaseLease(rctx, l.Name, l.Holder); err != nil && !errors.Is(err, sluice.ErrClosed) {
			log.Warn("consumer: release lease", "err", err)
		}
	}()
	backoff := minBackoff
	for {
		lease, err := l.Leases.AcquireLease(ctx, l.Name, l.Holder, ttl)
		if err == nil {
			log.Info("consumer: lease taken", "expires", lease.Expires)
			err = l.term(ctx, lease, ttl, work)
		}
		var held *sluice.LeaseHeldError
		wait := ttl / 3
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &held):
			backoff = minBackoff // another process runs the work: stand by
		case errors.Is(err, ErrLeaseLost):
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

// term runs work while it keeps the lease; it returns ErrLeaseLost when the
// lease was lost meanwhile.
func (l *Leader) term(ctx context.Context, lease sluice.Lease, ttl time.Duration, work func(context.Context, *term) error) error {
	wctx, cancel := context.WithCancel(ctx)
	t := &term{leader: l, ttl: ttl, lease: lease, cancel: cancel}
	kept := make(chan struct{})
	go func() { defer close(kept); t.keep(wctx) }()
	err := work(wctx, t)
	cancel()
	<-kept
	if t.isLost() && ctx.Err() == nil {
		return fmt.Errorf("consumer %q: %w", l.Name, ErrLeaseLost)
	}
	return err
}

// term is one spell of holding the lease.
type term struct {
	leader *Leader
	ttl    time.Duration
	cancel context.CancelFunc

	mu    sync.Mutex
	lease sluice.Lease
	until time.Time // renew no later than this; zero: no limit
	lost  bool
}

// keep renews the lease every third of the TTL until ctx ends. When the
// lease is taken by another holder, cannot be renewed before it expires,
// or must not be renewed any more (limit), it cancels the term.
func (t *term) keep(ctx context.Context) {
	tick := time.NewTicker(t.ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.mu.Lock()
		expires, until := t.lease.Expires, t.until
		t.mu.Unlock()
		if !until.IsZero() && time.Now().After(until) {
			t.lose()
			return
		}
		lease, err := t.leader.Leases.AcquireLease(ctx, t.leader.Name, t.leader.Holder, t.ttl)
		switch {
		case err == nil:
			t.mu.Lock()
			t.lease = lease
			t.mu.Unlock()
		case ctx.Err() != nil:
			return // the work has returned
		case errors.Is(err, sluice.ErrLeaseHeld) || time.Now().After(expires):
			t.lose()
			return
		}
	}
}

// lose marks the lease lost and cancels the work.
func (t *term) lose() {
	t.mu.Lock()
	t.lost = true
	t.mu.Unlock()
	t.cancel()
}

func (t *term) isLost() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lost
}

// limit stops the renewals after d from now (a handler that may hang must
// not keep the lease from a standby for ever); 0 lifts the limit.
func (t *term) limit(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d <= 0 {
		t.until = time.Time{}
	} else {
		t.until = time.Now().Add(d)
	}
}

// expired reports whether the lease has run out (work must not act on it).
func (t *term) expired() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lost || time.Now().After(t.lease.Expires)
}
