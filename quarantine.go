package sluice

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Violation is one reason an event was rejected: where in the event
// (a JSON pointer such as /data/price), which rule (a JSON Schema keyword
// such as minimum, or a field rule of the envelope) and a message for the
// developer who sent it.
type Violation struct {
	Path    string `json:"path"`
	Keyword string `json:"keyword,omitempty"`
	Message string `json:"message"`
}

// Quarantined is an event that was rejected and kept so that it is not
// lost: it can be listed and replayed once the schema (or the sender) is
// fixed. Normal log readers never see it.
type Quarantined struct {
	// Seq orders the quarantine (the cursor of listings); the store assigns
	// it.
	Seq int64 `json:"seq"`
	// Event is the event as received, with its id (assigned at receipt when
	// the sender gave none). A second event with the same id replaces the
	// first.
	Event Event `json:"event"`
	// Reasons are the violations it was rejected for.
	Reasons []Violation `json:"reasons"`
	// Key is the name of the key that sent it.
	Key string `json:"key"`
	// At is when it was quarantined.
	At time.Time `json:"quarantined_at"`
}

// QuarantineQuery selects quarantined events. Empty fields select all.
type QuarantineQuery struct {
	IDs   []string  // event ids
	Types []string  // event types
	Since time.Time // quarantined at or after
	Until time.Time // quarantined before
	After int64     // Seq greater than this (the listing cursor)
	Limit int       // at most this many, in Seq order; 0 means 100
}

// Quarantine is the storage of rejected events, apart from the log.
type Quarantine interface {
	// AddQuarantined stores the events (Seq and At are set by the store
	// when zero).
	AddQuarantined(ctx context.Context, qs []Quarantined) error
	// ListQuarantined returns the selected events in Seq order.
	ListQuarantined(ctx context.Context, q QuarantineQuery) ([]Quarantined, error)
	// DeleteQuarantined removes the events with these Seq numbers.
	DeleteQuarantined(ctx context.Context, seqs []int64) error
	// TrimQuarantine removes the oldest events beyond maxCount and those
	// quarantined before olderThan (zero: no age limit), and returns how
	// many it removed.
	TrimQuarantine(ctx context.Context, maxCount int, olderThan time.Time) (int, error)
}

// QuarantineRecord is a Quarantined event's columns as backends store
// them: the event's (EventRecord) and the reasons as JSON.
type QuarantineRecord struct {
	EventRecord
	Reasons []byte
}

// Record returns q's event and reasons as stored.
func (q *Quarantined) Record() (QuarantineRecord, error) {
	er, err := NewEventRecord(&q.Event)
	if err != nil {
		return QuarantineRecord{}, fmt.Errorf("quarantined event %q: %w", q.Event.ID, err)
	}
	reasons, err := json.Marshal(q.Reasons)
	if err != nil {
		return QuarantineRecord{}, fmt.Errorf("quarantined event %q: %w", q.Event.ID, err)
	}
	return QuarantineRecord{EventRecord: er, Reasons: reasons}, nil
}

// SetRecord sets q's event and reasons from their stored form.
func (q *Quarantined) SetRecord(r QuarantineRecord) error {
	var err error
	if q.Event, err = r.EventRecord.Event(); err != nil {
		return fmt.Errorf("quarantined seq %d: %w", q.Seq, err)
	}
	if err := json.Unmarshal(r.Reasons, &q.Reasons); err != nil {
		return fmt.Errorf("quarantined seq %d: %w", q.Seq, err)
	}
	return nil
}
