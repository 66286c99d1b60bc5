package sluice

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Backends and the writer wrap them in typed errors that
// carry context; callers test with errors.Is. The HTTP edge alone maps them
// to status codes.
var (
	// ErrWrongExpectedVersion: a stream append's expected version did not
	// hold. The error is a *WrongExpectedVersionError.
	ErrWrongExpectedVersion = errors.New("wrong expected version")
	// ErrStreamNotFound: the stream has no events.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrInvalidEvent: an event breaks the envelope's rules. The error is an
	// *EventError naming the event and the field.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrQueueFull: the writer's queue holds as much as it may; try later.
	ErrQueueFull = errors.New("writer queue full")
	// ErrQueueDelay: the oldest request in the writer's queue has waited
	// longer than the writer's MaxQueueDelay; try later.
	ErrQueueDelay = errors.New("writer queue delay over target")
	// ErrClosed: the store or writer is closed.
	ErrClosed = errors.New("closed")
	// ErrCheckpointConflict: a checkpoint was not at the position the caller
	// expected (compare-and-set lost).
	ErrCheckpointConflict = errors.New("checkpoint conflict")
	// ErrLeaseHeld: another holder has the lease. The error is a
	// *LeaseHeldError.
	ErrLeaseHeld = errors.New("lease held by another holder")
	// ErrSchemaNotFound: no schema (or no such version) is registered for
	// the type.
	ErrSchemaNotFound = errors.New("schema not found")
	// ErrSubscriptionNotFound: no subscription has the name.
	ErrSubscriptionNotFound = errors.New("subscription not found")
	// ErrKeyExists: a key not revoked has the name, or the secret is in
	// use already.
	ErrKeyExists = errors.New("key exists")
	// ErrKeyNotFound: no key not revoked has the name.
	ErrKeyNotFound = errors.New("key not found")
	// ErrUnavailable: the store cannot be reached or cannot write (database
	// down, disk full). Retry later.
	ErrUnavailable = errors.New("store unavailable")
	// ErrStorageFull: the store has no space left to write (disk full).
	// It is an ErrUnavailable too: errors.Is(ErrStorageFull, ErrUnavailable)
	// holds, and writing works again once space is freed.
	ErrStorageFull error = storageFullError{}
)

// storageFullError is ErrStorageFull: a sentinel that also matches
// ErrUnavailable.
type storageFullError struct{}

func (storageFullError) Error() string { return "storage full" }

func (storageFullError) Is(target error) bool { return target == ErrUnavailable }

// WrongExpectedVersionError says which stream failed its expected version and
// what its version is now.
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedVersion
	// Current is the stream's version (0: no stream).
	Current uint64
}

func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("stream %q: expected version %s, current version %d", e.Stream, e.Expected, e.Current)
}

func (e *WrongExpectedVersionError) Unwrap() error { return ErrWrongExpectedVersion }

// EventError names the event (its index in the request and its id) and the
// field that broke a rule.
type EventError struct {
	// Index is the event's index in its request.
	Index int
	// ID is the event's id as given (may be empty).
	ID string
	// Field is the envelope field at fault ("type", "stream", "data", …).
	Field string
	// Reason says what is wrong, for a developer.
	Reason string
}

func (e *EventError) Error() string {
	return fmt.Sprintf("event %d: %s: %s", e.Index, e.Field, e.Reason)
}

func (e *EventError) Unwrap() error { return ErrInvalidEvent }

// LeaseHeldError says who holds a lease and until when.
type LeaseHeldError struct {
	Name    string
	Holder  string
	Expires time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("lease %q held by %q until %s", e.Name, e.Holder, e.Expires.Format(time.RFC3339Nano))
}

func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// ErrGone: the positions asked for were removed by retention. The error is a
// *GoneError saying where the log now starts.
var ErrGone = errors.New("positions removed by retention")

// GoneError says that a read asked for events before the log's first
// position, which retention has removed.
type GoneError struct {
	// After is the position the read asked for the events after.
	After Position
	// First is the first position the log holds (the head + 1 when it holds
	// none).
	First Position
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("the events after position %d are gone: the log starts at %d", e.After, e.First)
}

func (e *GoneError) Unwrap() error { return ErrGone }
