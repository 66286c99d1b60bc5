package sluice

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SinkRecord is one event as a sink delivers it.
type SinkRecord struct {
	// Event is the stored event: its ID, Position and Version are set, so
	// that receivers can deduplicate and order.
	Event *Event
	// Body is what to deliver for the event: its JSON as GET /v1/events
	// returns it, or what the sink's transform made of it.
	Body []byte
}

// Sink delivers batches of records to one destination. The runner (package
// sink) owns batching, retries, the circuit breaker and dead letters; a
// Sink only sends. Deliver may be called from two goroutines at once (the
// live cursor and a replay), never with overlapping records.
type Sink interface {
	// Deliver sends the records. It returns nil when every record was
	// delivered; a *DeliveryError when some failed and the others were
	// delivered; any other error when none was: that error is retried
	// unless it is Permanent, after its RetryAfter when it has one, and
	// one wrapping ErrSinkDisabled stops the sink until it is resumed.
	Deliver(ctx context.Context, records []SinkRecord) error
	// Close releases the sink's connections.
	Close() error
}

// ErrSinkDisabled: the destination asked for no more deliveries (a webhook
// answering 410 Gone). The sink stops until an operator resumes it.
var ErrSinkDisabled = errors.New("sink disabled by its destination")

// DeliveryError says which records of a batch failed; the others were
// delivered.
type DeliveryError struct {
	// Failed are the failed records, by their index in the batch, in
	// batch order.
	Failed []RecordError
}

// RecordError is the failure of one record of a batch.
type RecordError struct {
	// Index is the record's index in the batch.
	Index int
	// Err is why it failed: Permanent when no retry can deliver it, with a
	// RetryAfter when the destination said when to try again.
	Err error
}

func (e *DeliveryError) Error() string {
	if len(e.Failed) == 0 {
		return "no record failed"
	}
	return fmt.Sprintf("%d record(s) failed, the first (index %d): %v", len(e.Failed), e.Failed[0].Index, e.Failed[0].Err)
}

// permanentError marks an error that no retry can fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that no retry can fix: its records go to the
// dead letters at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked
// Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// retryAfterError carries the wait a destination asked for.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter says that the destination asked to wait d before the next
// attempt (an HTTP Retry-After). RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return retryAfterError{err, d}
}

// RetryAfterOf returns the wait that err asks for, 0 when it asks none.
func RetryAfterOf(err error) time.Duration {
	var r retryAfterError
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}

// SinkConsumer is the checkpoint and lease name of the sink called name:
// sinks share those names with subscriptions under a prefix of their own.
func SinkConsumer(name string) string { return "sink/" + name }

// SinkReplayConsumer is the checkpoint name of a replay of the sink called
// name: how far the replay's cursor has delivered.
func SinkReplayConsumer(name string) string { return "sink/" + name + "/replay" }
