package consumer

import (
	"context"

	"github.com/sluicehq/sluice"
)

// Cursor reads the events after a position that a filter keeps, a page at
// a time: it reads the store while there is a backlog (catch-up), then
// waits for the next commit (live). It is not safe for concurrent use.
type Cursor struct {
	log    sluice.Log
	filter sluice.Filter
	page   int
	pos    sluice.Position
	// skipped, when set, is told how many positions the cursor passed
	// over because retention had removed them (see SkipGone).
	skipped func(n uint64)
}

// NewCursor returns a cursor over log after position after; page is the
// most events Next returns at a time.
func NewCursor(log sluice.Log, after sluice.Position, f sluice.Filter, page int) *Cursor {
	return &Cursor{log: log, filter: f, page: max(page, 1), pos: after}
}

// SkipGone makes the cursor go on from the log's first position when
// retention has removed the events after its position, telling skipped how
// many positions it passed over. Without it, Read returns the
// *sluice.GoneError.
func (c *Cursor) SkipGone(skipped func(n uint64)) { c.skipped = skipped }

// Position is how far the cursor has read: every event up to it has been
// returned by Next or skipped by the filter.
func (c *Cursor) Position() sluice.Position { return c.pos }

// Next returns the next events the filter keeps, waiting for commits while
// there are none. It returns what it has as soon as it has any; when ctx
// ends first it returns no events and ctx's error, and Position still
// counts the events the filter skipped meanwhile.
func (c *Cursor) Next(ctx context.Context) ([]sluice.Event, error) {
	for {
		evs, err := c.Read(ctx)
		if err != nil || len(evs) > 0 {
			return evs, err
		}
		if _, err := c.log.WaitHead(ctx, c.pos); err != nil {
			return nil, err
		}
	}
}

// Read returns the next page of events the filter keeps without waiting:
// none when the cursor has reached the head.
func (c *Cursor) Read(ctx context.Context) ([]sluice.Event, error) {
	// The head is read first: every event up to it is visible (readers
	// never see a gap), so a short page means everything up to it was read.
	head, err := c.log.Head(ctx)
	if err != nil {
		return nil, err
	}
	var evs []sluice.Event
	if c.skipped == nil {
		evs, err = c.log.ReadLog(ctx, c.pos, c.filter, c.page)
	} else {
		var n uint64
		evs, n, err = sluice.ReadLogFrom(ctx, c.log, c.pos, c.filter, c.page)
		if n > 0 {
			c.pos += sluice.Position(n)
			c.skipped(n)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		c.pos = evs[len(evs)-1].Position
	}
	if len(evs) < c.page {
		c.pos = max(c.pos, head)
	}
	return evs, nil
}
