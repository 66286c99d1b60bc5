package consumer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice"
)

// RetentionStore is a store whose old events retention can remove.
type RetentionStore interface {
	sluice.Store
	sluice.Retainer
}

// Retention runs sluice.Retain every Every on one process at a time among
// those sharing the store (the lease "retention").
type Retention struct {
	Store  RetentionStore
	Policy sluice.RetentionPolicy
	// Every is the time between passes. Default 1m.
	Every time.Duration
	// Holder names this process in the lease.
	Holder string
	// Logger gets each pass that removed something, and failures.
	// Default slog.Default().
	Logger *slog.Logger
	// Passed, when set, is called after each pass (tests and metrics).
	Passed func(sluice.RetentionPass, error)
}

// retentionLease is the name of the lease retention runs under.
const retentionLease = "retention"

// Run runs passes until ctx ends; it returns ctx's error.
func (r *Retention) Run(ctx context.Context) error {
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	every := cmpOr(r.Every, time.Minute)
	l := &Leader{Leases: r.Store, Name: retentionLease, Holder: r.Holder, Logger: log}
	return l.Run(ctx, func(ctx context.Context) error {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			before, _ := r.Store.FirstPosition(ctx)
			pass, err := sluice.Retain(ctx, r.Store, r.Policy, time.Now())
			switch {
			case err != nil && ctx.Err() == nil:
				log.Error("retention: pass failed", "err", err)
			case pass.First > before:
				log.Info("retention: removed events", "first", pass.First, "was", before, "held_by", pass.HeldBy)
			case pass.HeldBy != "" && pass.Cut > pass.First:
				log.Debug("retention: held back by an archive sink", "sink", pass.HeldBy, "delivered", pass.Held, "cut", pass.Cut)
			}
			if r.Passed != nil {
				r.Passed(pass, err)
			}
			if errors.Is(err, sluice.ErrClosed) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
	})
}
