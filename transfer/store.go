package transfer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
)

// StoreTarget appends events to a store's log, one commit a batch. Events
// the envelope's rules refuse (Limits.Prepare) are refused one by one, the
// rest stored; ids already in the log are duplicates, not stored again.
// The events' positions, versions and times of recording are the store's
// own: those read from the source are dropped.
type StoreTarget struct {
	Log    sluice.Log
	Limits sluice.Limits
}

var _ Target = (*StoreTarget)(nil)

// Write appends events in one commit.
func (t *StoreTarget) Write(ctx context.Context, events []sluice.Event) (Written, error) {
	for i := range events {
		e := &events[i]
		e.Position, e.Version, e.RecordedAt = 0, 0, time.Time{}
	}
	var (
		w     Written
		index []int // index[i] is the batch index of events[i], once one is refused
	)
	req := []sluice.AppendRequest{{Events: events}}
	for {
		err := t.Limits.Prepare(req)
		var ee *sluice.EventError
		if !errors.As(err, &ee) {
			if err != nil {
				return Written{}, fmt.Errorf("append: %w", err)
			}
			break
		}
		if index == nil { // copy: the caller's batch keeps its events
			index = make([]int, len(events))
			for i := range index {
				index[i] = i
			}
			events = slices.Clone(events)
		}
		w.Refused = append(w.Refused, Refusal{Index: index[ee.Index], Reason: ee.Field + ": " + ee.Reason})
		events = slices.Delete(events, ee.Index, ee.Index+1)
		index = slices.Delete(index, ee.Index, ee.Index+1)
		if len(events) == 0 {
			return w, nil
		}
		req[0].Events = events
	}
	res, err := t.Log.Append(ctx, req)
	if err != nil {
		return Written{}, fmt.Errorf("append: %w", err)
	}
	for _, a := range res[0].Events {
		if a.Duplicate {
			w.Duplicates++
		} else {
			w.Stored++
		}
	}
	return w, nil
}

// Close does nothing: the store is the caller's.
func (t *StoreTarget) Close() error { return nil }
