// Package memsink is a sink destination in memory whose answers a test
// scripts, for the runner's and the API's tests: the runner's rules
// (partial failures, retries, ordering) need faults of a precision no real
// destination gives. The conformance suite (sinktest) runs the real ones.
package memsink

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// Sink is a destination in memory. The zero value takes every record.
type Sink struct {
	mu      sync.Mutex
	got     []Delivery // every record taken, in order
	batches int
	// answer, when set, decides each delivery; nil takes every record.
	answer func(n int, recs []sluice.SinkRecord) error
}

// Delivery is one record as the destination took it.
type Delivery struct {
	Pos    sluice.Position
	Stream string
	Body   string
	At     time.Time
}

// Deliver takes the records, as the script says.
func (m *Sink) Deliver(ctx context.Context, recs []sluice.SinkRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches++
	var err error
	if m.answer != nil {
		err = m.answer(m.batches, recs)
	}
	failed := map[int]bool{}
	var partial *sluice.DeliveryError
	switch {
	case errors.As(err, &partial):
		for _, f := range partial.Failed {
			failed[f.Index] = true
		}
	case err != nil:
		return err
	}
	for i, r := range recs {
		if !failed[i] {
			m.got = append(m.got, Delivery{r.Event.Position, r.Event.Stream, string(r.Body), time.Now()})
		}
	}
	return err
}

// Close does nothing: the sink holds no connection.
func (m *Sink) Close() error { return nil }

// Script makes answer decide each delivery from now on (n counts the
// deliveries from 1); its error is returned to the runner, and the records
// a *sluice.DeliveryError names are not taken.
func (m *Sink) Script(answer func(n int, recs []sluice.SinkRecord) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.answer, m.batches = answer, 0
}

// Deliveries returns every record taken, in order.
func (m *Sink) Deliveries() []Delivery {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got)
}

// Positions lists the positions taken, in order.
func (m *Sink) Positions() []sluice.Position {
	var out []sluice.Position
	for _, d := range m.Deliveries() {
		out = append(out, d.Pos)
	}
	return out
}

var _ sluice.Sink = (*Sink)(nil)
