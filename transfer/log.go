package transfer

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
)

// LogReader reads a log in position order: a sluice.Log, or a server
// through LogClient.
type LogReader interface {
	ReadLog(ctx context.Context, after sluice.Position, f sluice.Filter, limit int) ([]sluice.Event, error)
}

// LogClient reads the log of a server over its API (GET /v1/events).
type LogClient struct{ *client.Client }

var _ LogReader = LogClient{}

// ReadLog reads a page of the server's log.
func (c LogClient) ReadLog(ctx context.Context, after sluice.Position, f sluice.Filter, limit int) ([]sluice.Event, error) {
	page, err := c.Client.ReadLog(ctx, after, f, limit)
	return page.Events, err
}

// LogSource reads a log from a position to its end (or a position) with
// the log's filters, and times of recording.
type LogSource struct {
	// Log is read.
	Log LogReader
	// Name names the log in rejects and messages.
	Name string
	// Filter selects events by type and stream.
	Filter sluice.Filter
	// After is the position the reading starts after; 0: the log's start.
	After sluice.Position
	// Until, when not 0, is the last position read.
	Until sluice.Position
	// Since and Before, when not zero, keep events recorded at or after
	// Since and before Before.
	Since, Before time.Time
	// Head, when known, is the log's head when the reading started, for
	// the progress.
	Head sluice.Position
	// Page is the events read at a time; default 1000.
	Page int

	at atomic.Uint64 // the last position read
}

var (
	_ Source = (*LogSource)(nil)
	_ Sized  = (*LogSource)(nil)
)

// Next reads the next page.
func (s *LogSource) Next(ctx context.Context) (Batch, error) {
	after := max(sluice.Position(s.at.Load()), s.After)
	if s.Until > 0 && after >= s.Until {
		return Batch{}, io.EOF
	}
	page := s.Page
	if page <= 0 {
		page = 1000
	}
	events, err := s.Log.ReadLog(ctx, after, s.Filter, page)
	if err != nil {
		return Batch{}, fmt.Errorf("%s: read the log after %d: %w", s.Name, after, err)
	}
	if len(events) == 0 {
		return Batch{}, io.EOF
	}
	b := Batch{Events: events[:0], Marks: make([]int64, 0, len(events))}
	for _, e := range events {
		if s.Until > 0 && e.Position > s.Until {
			break
		}
		if (!s.Since.IsZero() && e.RecordedAt.Before(s.Since)) || (!s.Before.IsZero() && !e.RecordedAt.Before(s.Before)) {
			continue
		}
		b.add(e, int64(e.Position))
	}
	last := events[len(events)-1].Position
	if s.Until > 0 {
		last = min(last, s.Until)
	}
	s.at.Store(uint64(last))
	return b, nil
}

// Where is the position.
func (s *LogSource) Where(p int64) string { return fmt.Sprintf("%s position %d", s.Name, p) }

// Progress is the positions read of those to read, when the head is known.
func (s *LogSource) Progress() (done, total int64) {
	end := s.Head
	if s.Until > 0 && (end == 0 || s.Until < end) {
		end = s.Until
	}
	if end <= s.After {
		return 0, 0
	}
	at := max(sluice.Position(s.at.Load()), s.After)
	return int64(min(at, end) - s.After), int64(end - s.After)
}

// Close does nothing: the log is the caller's.
func (s *LogSource) Close() error { return nil }
