package consumer

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// PositionAt returns the position of the first event committed at or after
// t, or the position after the head when there is none: commit times grow
// with positions, so it searches the log by halves, one event read per
// step.
func PositionAt(ctx context.Context, log sluice.Log, t time.Time) (sluice.Position, error) {
	head, err := log.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("position at %s: %w", t.Format(time.RFC3339Nano), err)
	}
	lo, hi := sluice.Position(1), head+1 // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		evs, _, err := sluice.ReadLogFrom(ctx, log, mid-1, sluice.Filter{}, 1)
		if err != nil {
			return 0, fmt.Errorf("position at %s: %w", t.Format(time.RFC3339Nano), err)
		}
		if len(evs) == 0 || !evs[0].RecordedAt.Before(t) {
			hi = mid
		} else {
			lo = evs[0].Position + 1
		}
	}
	return lo, nil
}
