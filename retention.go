package sluice

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Retainer is what a backend that can remove old events provides, besides
// Store: the log then starts at a position above 1, and a read of the
// events after a position before it is refused with a *GoneError. It is an
// optional interface: a backend without it keeps every event (JetStream
// does, and says so in its storetest Features).
type Retainer interface {
	// FirstPosition is the first position the log holds; the head + 1
	// when it holds none (1 for an empty log).
	FirstPosition(ctx context.Context) (Position, error)
	// RetentionCut returns the position before which whole units of the
	// log (segment files, ranges of positions) could go by age and size:
	// those whose every event was recorded before olderThan (the zero time:
	// none by age), and, oldest first, those beyond the newest maxBytes of
	// events (0: no limit). It never returns more than the head + 1, and
	// never cuts into the unit being written.
	RetentionCut(ctx context.Context, olderThan time.Time, maxBytes int64) (Position, error)
	// Trim removes the whole units whose every position is before before,
	// and returns the first position after it. Readers of those positions
	// get a *GoneError from then on; the ids of the events removed are no
	// longer deduplicated.
	Trim(ctx context.Context, before Position) (Position, error)
}

// ReadLogFrom is ReadLog that starts at the log's first position when
// after is before it: skipped is how many positions were passed over (0
// when none were).
func ReadLogFrom(ctx context.Context, log Log, after Position, f Filter, limit int) (evs []Event, skipped uint64, err error) {
	evs, err = log.ReadLog(ctx, after, f, limit)
	var gone *GoneError
	if !errors.As(err, &gone) {
		return evs, 0, err
	}
	evs, err = log.ReadLog(ctx, gone.First-1, f, limit)
	return evs, uint64(gone.First - 1 - after), err
}

// GoneBefore returns the *GoneError of a read after position after when
// the log starts at first, nil when after is not before it.
func GoneBefore(after, first Position) error {
	if after+1 >= first {
		return nil
	}
	return &GoneError{After: after, First: first}
}

// RetentionPolicy is what a retention pass removes.
type RetentionPolicy struct {
	// MaxAge: events recorded longer ago may go (0: no limit by age).
	MaxAge time.Duration
	// MaxBytes: events beyond the newest MaxBytes may go (0: no limit).
	MaxBytes int64
	// Archives are the consumers (checkpoint names) that must have
	// delivered an event before it goes: the archive sinks.
	Archives []string
}

// IsZero says that the policy removes nothing.
func (p RetentionPolicy) IsZero() bool { return p.MaxAge <= 0 && p.MaxBytes <= 0 }

// RetentionPass is what one pass decided.
type RetentionPass struct {
	// Cut is the position before which age and size would remove events.
	Cut Position
	// HeldBy names the archive consumer that held the cut back, if any,
	// and Held is its checkpoint.
	HeldBy string
	Held   Position
	// First is the log's first position after the pass.
	First Position
}

// Retain runs one retention pass on s: it computes the cut from the
// policy's age and size, holds it back to what every archive consumer has
// delivered (their checkpoints), and trims. A caller on several nodes
// runs it under a lease.
func Retain(ctx context.Context, s interface {
	Retainer
	Checkpoints
}, p RetentionPolicy, now time.Time) (RetentionPass, error) {
	var pass RetentionPass
	var olderThan time.Time
	if p.MaxAge > 0 {
		olderThan = now.Add(-p.MaxAge)
	}
	cut, err := s.RetentionCut(ctx, olderThan, p.MaxBytes)
	if err != nil {
		return pass, fmt.Errorf("retention: cut: %w", err)
	}
	pass.Cut = cut
	for _, name := range p.Archives {
		ck, err := s.Checkpoint(ctx, name)
		if err != nil {
			return pass, fmt.Errorf("retention: checkpoint %s: %w", name, err)
		}
		if ck+1 < cut {
			cut, pass.HeldBy, pass.Held = ck+1, name, ck
		}
	}
	if pass.First, err = s.Trim(ctx, cut); err != nil {
		return pass, fmt.Errorf("retention: trim before %d: %w", cut, err)
	}
	return pass, nil
}

// Backuper is what a backend that copies itself while in use provides,
// besides Store (an optional interface: PostgreSQL is backed up with its
// own tools, docs/operations.md).
type Backuper interface {
	// Backup hands to to the files of a consistent copy of the store,
	// taken without stopping writes: it holds at least every event
	// committed before Backup was called.
	Backup(ctx context.Context, to BackupWriter) (BackupInfo, error)
}

// BackupWriter receives the files of a backup, one at a time: name is a
// slash-separated path relative to the copy's root, size the bytes r
// holds.
type BackupWriter interface {
	WriteFile(name string, size int64, r io.Reader) error
}

// BackupInfo says what a backup holds.
type BackupInfo struct {
	// First and Head are the log's first position and head in the copy.
	First Position `json:"first_position"`
	Head  Position `json:"head"`
	// Files and Bytes count what was written.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}
