package sluice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrRevisionConflict: a compare-and-set by revision lost, because the
// record changed since it was read. Read it again and retry.
var ErrRevisionConflict = errors.New("changed meanwhile")

// SinkControl is what operators decided about a sink, and what its
// destination asked: every process sharing the store sees the same.
type SinkControl struct {
	// Paused: an operator paused the sink; it delivers nothing until it
	// is resumed.
	Paused bool `json:"paused,omitempty"`
	// Disabled says why the destination asked for no more deliveries (a
	// webhook's 410); empty when it has not. Resuming clears it.
	Disabled string `json:"disabled,omitempty"`
	// DisabledAt is when the destination asked.
	DisabledAt time.Time `json:"disabled_at,omitzero"`
	// Replay is the re-delivery asked for, nil when none is.
	Replay *SinkReplay `json:"replay,omitempty"`
}

// SinkReplay is a re-delivery of the events after After up to Through, on
// a cursor of its own (its checkpoint is SinkReplayConsumer) beside live
// delivery.
type SinkReplay struct {
	// ID names this replay; a new one replaces a replay in progress.
	ID string `json:"id"`
	// After: the first event re-delivered is the first after it.
	After Position `json:"after"`
	// Through is the last position re-delivered: the live checkpoint
	// when the replay was asked for (later events are live deliveries).
	Through Position `json:"through"`
	// RequestedAt is when it was asked for.
	RequestedAt time.Time `json:"requested_at"`
}

// SinkState is a sink's shared record: its control, and the status its
// runner last reported.
type SinkState struct {
	Name    string
	Control SinkControl
	// Revision counts the changes of Control; SetSinkControl compares it.
	// 0: Control was never set.
	Revision int64
	// Status is what the process running the sink last reported (JSON
	// defined by package sink); nil before any report.
	Status json.RawMessage
	// StatusAt is when Status was reported.
	StatusAt time.Time
}

// Sinks keeps what every process must know of each sink.
type Sinks interface {
	// SinkState returns the sink's state; one with Revision 0 and no
	// Status when nothing was stored for it.
	SinkState(ctx context.Context, name string) (SinkState, error)
	// SetSinkControl replaces the sink's control if its revision is still
	// rev, and returns the new revision; otherwise it returns an error
	// wrapping ErrRevisionConflict and changes nothing.
	SetSinkControl(ctx context.Context, name string, rev int64, c SinkControl) (int64, error)
	// SetSinkStatus records what the process running the sink reports.
	// A store that only one process opens may keep it in memory.
	SetSinkStatus(ctx context.Context, name string, status json.RawMessage) error
}

// DeadLetter is an event that a sink could not deliver within its retry
// budget (or that its destination refused for good), kept so that it can
// be read and re-driven.
type DeadLetter struct {
	// Seq orders one sink's dead letters (the cursor of listings); the
	// store assigns it. A second dead letter of the same sink and event id
	// replaces the first and gets a new Seq.
	Seq int64 `json:"seq"`
	// Sink is the sink's name.
	Sink string `json:"sink"`
	// Event is the stored event.
	Event Event `json:"event"`
	// Attempts is how many deliveries were tried.
	Attempts int `json:"attempts"`
	// Error is the last attempt's error.
	Error string `json:"error"`
	// FirstAttemptAt is when the first delivery was tried.
	FirstAttemptAt time.Time `json:"first_attempt_at"`
	// At is when it was dead-lettered; set by the store when zero.
	At time.Time `json:"dead_lettered_at"`
}

// DeadLetterQuery selects one sink's dead letters.
type DeadLetterQuery struct {
	Sink  string   // required
	IDs   []string // event ids; empty: all
	After int64    // Seq greater than this (the listing cursor)
	Limit int      // at most this many, in Seq order; 0 means 100
}

// DeadLetters is the storage of the events that sinks gave up on, apart
// from the log.
type DeadLetters interface {
	// AddDeadLetters stores the dead letters (Seq is assigned; At when
	// zero).
	AddDeadLetters(ctx context.Context, ds []DeadLetter) error
	// ListDeadLetters returns the selected dead letters in Seq order.
	ListDeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, error)
	// DeleteDeadLetters removes the sink's dead letters with these Seq
	// numbers.
	DeleteDeadLetters(ctx context.Context, sink string, seqs []int64) error
	// CountDeadLetters returns how many dead letters the sink has.
	CountDeadLetters(ctx context.Context, sink string) (int64, error)
}

// EventRecord is an event's columns as backends store it outside the log
// (the quarantine, dead letters): the envelope as JSON without its data
// and metadata, which are kept byte for byte beside it (JSON encoding would
// rewrite them).
type EventRecord struct {
	Envelope, Data, Metadata []byte
}

// NewEventRecord returns e's columns.
func NewEventRecord(e *Event) (EventRecord, error) {
	env := *e
	env.Data, env.Metadata = nil, nil
	envelope, err := json.Marshal(env)
	if err != nil {
		return EventRecord{}, fmt.Errorf("event %q: %w", e.ID, err)
	}
	return EventRecord{Envelope: envelope, Data: e.Data, Metadata: e.Metadata}, nil
}

// Event returns the event whose columns r holds.
func (r EventRecord) Event() (Event, error) {
	var e Event
	if err := json.Unmarshal(r.Envelope, &e); err != nil {
		return e, fmt.Errorf("stored event: %w", err)
	}
	e.Data, e.Metadata = r.Data, r.Metadata
	return e, nil
}
