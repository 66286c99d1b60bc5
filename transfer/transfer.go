package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
)

// Batch is a stretch of a source: the events read, and the records of it
// that are not events.
type Batch struct {
	// Events in source order.
	Events []sluice.Event
	// Marks has, for each event, where it is in the source (a line, a
	// position), for rejects.
	Marks []int64
	// Rejects are the records of this stretch that could not be read as
	// events.
	Rejects []Reject
	// Cursor, when not nil, is where the source is once the batch is
	// written: Copy gives it to a Committer's Commit.
	Cursor any
}

// add appends e, found at mark.
func (b *Batch) add(e sluice.Event, mark int64) {
	b.Events = append(b.Events, e)
	b.Marks = append(b.Marks, mark)
}

// Source yields events in batches.
type Source interface {
	// Next returns the next batch, and io.EOF after the last.
	Next(ctx context.Context) (Batch, error)
	// Where names the place mark of this source ("events.ndjson:12").
	Where(mark int64) string
	// Close releases the source.
	Close() error
}

// Sized is a Source that knows how much of it is read, in a unit of its
// own (bytes, positions), for the progress's share done and ETA. It is
// called from another goroutine than Next.
type Sized interface {
	Progress() (done, total int64)
}

// Committer is a Source that keeps its place: Copy calls Commit with a
// batch's Cursor once the target has written the batch (and the rejects
// are kept), so that a reading resumed after a stop starts after it.
type Committer interface {
	Commit(cursor any) error
}

// Written is what a target did with a batch.
type Written struct {
	// Stored and Duplicates count the events stored and those whose id was
	// in the target already.
	Stored, Duplicates int
	// Refused are the batch's events the target refused, by index, with
	// the reason.
	Refused []Refusal
}

// Refusal is an event of a batch that a target refused.
type Refusal struct {
	Index  int
	Reason string
}

// Target takes events.
type Target interface {
	// Write stores events; an error is a failure of the whole, after
	// which the copy stops.
	Write(ctx context.Context, events []sluice.Event) (Written, error)
	// Close flushes and releases the target.
	Close() error
}

// Counts are the running totals of a copy.
type Counts struct {
	// Read counts the events read from the source.
	Read int64 `json:"read"`
	// Stored counts the events the target stored.
	Stored int64 `json:"stored"`
	// Duplicates counts those the target had already.
	Duplicates int64 `json:"duplicates"`
	// Rejected counts the records that could not be read or were refused,
	// kept in the reject file.
	Rejected int64 `json:"rejected"`
}

// counters are Counts updated by the copy and read by the reporter.
type counters struct{ read, stored, duplicates, rejected atomic.Int64 }

func (c *counters) load() Counts {
	return Counts{Read: c.read.Load(), Stored: c.stored.Load(), Duplicates: c.duplicates.Load(), Rejected: c.rejected.Load()}
}

// Summary is the outcome of a copy.
type Summary struct {
	Counts
	// Elapsed is the copy's duration.
	Elapsed time.Duration `json:"-"`
	// Rate is events read per second.
	Rate float64 `json:"events_per_second"`
}

// Options are Copy's optional parts.
type Options struct {
	// Rejects keeps what could not be moved; nil counts them only.
	Rejects *RejectFile
	// Progress reports as the copy goes; nil reports nothing.
	Progress *Progress
	// MaxRejects stops the copy with an error once more records than it
	// are rejected; 0: no bound.
	MaxRejects int64
}

// ErrTooManyRejects: more records were rejected than Options.MaxRejects.
var ErrTooManyRejects = errors.New("too many rejects")

// Copy reads src to its end and writes every batch to dst, reading the
// next batch while the previous one is written. It closes neither.
func Copy(parent context.Context, src Source, dst Target, o Options) (Summary, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var c counters
	start := time.Now()
	stop := o.Progress.start(src, &c, start)
	batches := make(chan Batch, 2)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		for {
			b, err := src.Next(ctx)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr <- err
				}
				return
			}
			select {
			case batches <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	err := drain(ctx, batches, src, dst, o, &c)
	cancel()
	for range batches { // let the reader end
	}
	select {
	case rerr := <-readErr:
		if err == nil || errors.Is(err, context.Canceled) {
			err = rerr
		}
	default:
	}
	if err == nil {
		err = parent.Err()
	}
	sum := Summary{Counts: c.load(), Elapsed: time.Since(start)}
	sum.Rate = float64(sum.Read) / max(sum.Elapsed.Seconds(), 1e-9)
	stop(sum, err)
	return sum, err
}

// drain writes the batches to dst until there are no more.
func drain(ctx context.Context, batches <-chan Batch, src Source, dst Target, o Options, c *counters) error {
	for b := range batches {
		c.read.Add(int64(len(b.Events)))
		for _, r := range b.Rejects {
			if err := reject(o, c, r); err != nil {
				return err
			}
		}
		if len(b.Events) == 0 {
			if err := commit(src, o.Rejects, b.Cursor); err != nil {
				return err
			}
			continue
		}
		w, err := dst.Write(ctx, b.Events)
		if err != nil {
			return err
		}
		c.stored.Add(int64(w.Stored))
		c.duplicates.Add(int64(w.Duplicates))
		for _, r := range w.Refused {
			e := &b.Events[r.Index]
			if err := reject(o, c, Reject{Where: src.Where(b.Marks[r.Index]), Reason: r.Reason, Record: e.AppendJSON(nil)}); err != nil {
				return err
			}
		}
		if err := commit(src, o.Rejects, b.Cursor); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// reject keeps r and counts it.
func reject(o Options, c *counters, r Reject) error {
	n := c.rejected.Add(1)
	if err := o.Rejects.Write(r); err != nil {
		return err
	}
	if o.MaxRejects > 0 && n > o.MaxRejects {
		return fmt.Errorf("%w: more than %d (the last: %s: %s)", ErrTooManyRejects, o.MaxRejects, r.Where, r.Reason)
	}
	return nil
}

// commit gives cursor to src when it is a Committer, once the rejects
// before it are written out: a resumed copy does not read them again.
func commit(src Source, rejects *RejectFile, cursor any) error {
	c, ok := src.(Committer)
	if !ok || cursor == nil {
		return nil
	}
	if err := rejects.Flush(); err != nil {
		return err
	}
	return c.Commit(cursor)
}
