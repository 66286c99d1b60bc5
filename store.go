package sluice

import (
	"context"
	"time"
)

// AppendRequest is one caller's append: either a batch of events for any
// streams (the ingest path), or, when Stream is set, events for one stream
// under an expected version, stored all or none.
type AppendRequest struct {
	// Stream, when set, makes this a stream append: every event goes to
	// Stream (an event's own Stream must be empty or equal), Expected is
	// checked, and the events are stored atomically or not at all.
	Stream string
	// Expected is checked against Stream's version; only with Stream.
	Expected ExpectedVersion
	// Events in order. Prepare fills in missing ids and streams in place.
	Events []Event

	// prepared: Prepare has checked the request (see Limits.Prepare).
	prepared bool
}

// AppendResult is what became of one AppendRequest.
type AppendResult struct {
	// Events has one entry per event of the request, in order; empty when
	// Err is set.
	Events []Appended
	// Err is the request's own failure (a *WrongExpectedVersionError), in
	// which case nothing of the request was stored. Failures of the whole
	// call are returned by Append instead.
	Err error
}

// Position is the highest position of the request's events (stored or
// duplicate), or 0.
func (r AppendResult) Position() Position {
	var p Position
	for _, a := range r.Events {
		p = max(p, a.Position)
	}
	return p
}

// Appended is the outcome of one event.
type Appended struct {
	ID       string
	Position Position
	Version  uint64
	// Duplicate: an event with this id was already in the log (or earlier
	// in the same call); Position and Version are the stored event's.
	Duplicate bool
}

// ReadStreamOptions selects a slice of one stream.
type ReadStreamOptions struct {
	// FromVersion is the first version to return; 0 means the first
	// (forward) or the last (backward) event.
	FromVersion uint64
	// Limit is the most events to return; at least 1.
	Limit int
	// Backward reads from FromVersion towards version 1.
	Backward bool
}

// StreamInfo describes one stream.
type StreamInfo struct {
	Stream       string   `json:"stream"`
	Version      uint64   `json:"version"`
	LastPosition Position `json:"last_position"`
}

// Log is the append-only event log.
type Log interface {
	// Append stores the requests in one commit, in order, and returns one
	// result per request. It first checks every event (Prepare); if any is
	// invalid it returns an *EventError and writes nothing. An event whose
	// id is already in the log is not stored again: its result says
	// Duplicate and carries the original position. A stream request whose
	// events are all duplicates succeeds without checking its expected
	// version (a retried append is idempotent). An error from Append itself
	// means nothing of the call was stored.
	Append(ctx context.Context, reqs []AppendRequest) ([]AppendResult, error)
	// ReadStream returns events of one stream, ErrStreamNotFound when the
	// stream has none.
	ReadStream(ctx context.Context, stream string, opts ReadStreamOptions) ([]Event, error)
	// ReadLog returns up to limit events after position after that f keeps,
	// in position order.
	ReadLog(ctx context.Context, after Position, f Filter, limit int) ([]Event, error)
	// ListStreams returns up to limit streams whose names start with prefix
	// and sort after the name after, in name order.
	ListStreams(ctx context.Context, prefix, after string, limit int) ([]StreamInfo, error)
	// Head is the highest committed position (0: empty log).
	Head(ctx context.Context) (Position, error)
	// WaitHead blocks until the head is above after, then returns it; it is
	// woken by commits (of any process sharing the store), not by polling.
	WaitHead(ctx context.Context, after Position) (Position, error)
}

// Checkpoints keeps one durable position per consumer name.
type Checkpoints interface {
	// Checkpoint returns the consumer's position, 0 if it has none.
	Checkpoint(ctx context.Context, name string) (Position, error)
	// SetCheckpoint moves the consumer's position from old to new; if it is
	// not at old, it returns ErrCheckpointConflict and changes nothing.
	SetCheckpoint(ctx context.Context, name string, old, new Position) error
	// WaitCheckpoint blocks until the consumer's checkpoint is no longer at
	// at, then returns it. It is woken by SetCheckpoint in any process
	// sharing the store (and by a subscription being deleted or created),
	// not by polling. Close makes it return ErrClosed.
	WaitCheckpoint(ctx context.Context, name string, at Position) (Position, error)
}

// Lease is a time-bounded right to run a named consumer.
type Lease struct {
	Name    string
	Holder  string
	Expires time.Time
}

// Leases makes sure that each named consumer runs in one process at a time,
// across every process sharing the store.
type Leases interface {
	// AcquireLease takes the lease for holder for ttl, or renews it when
	// holder has it already. When another holder has an unexpired lease it
	// returns a *LeaseHeldError.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Store is everything a backend provides.
type Store interface {
	Log
	Checkpoints
	Leases
	Subscriptions
	Schemas
	Quarantine
	Sinks
	DeadLetters
	Keys
	// Close releases the store; calls after it return ErrClosed.
	Close() error
}
