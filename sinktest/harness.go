package sinktest

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/sink"
)

// Harness is a sink type under test with a destination of its own, made
// fresh for each test by a New.
type Harness struct {
	// Destination is the sink's configuration for this destination.
	Destination sink.Destination
	// Fields are the same configuration as a sinks: entry of the YAML
	// file holds it (type included, name and the common fields left out),
	// for the tests that run the real binary.
	Fields map[string]any
	// Received returns the bodies of the records the destination holds,
	// each a stored event's JSON (no transform is configured), in the
	// order they were received; several times a record delivered several
	// times.
	Received func(t testing.TB) [][]byte
	// Outage, while on, makes the destination fail every delivery in a
	// way the sink reports as retryable (it is down, answers 503, refuses
	// connections); off restores it.
	Outage func(t testing.TB, on bool)
	// Refuse makes the destination refuse for good, from now on, the
	// records of these event ids: a permanent failure of those records
	// (Features.RecordRefusals) or of the batches that hold them. Refuse
	// with no ids takes every record again. Nil for destinations that
	// cannot refuse a record (a file).
	Refuse func(t testing.TB, ids []string)
	// Flaky, when set, makes the destination fail each record of these
	// event ids, retryably, the next times times it gets it, while it
	// takes the other records of the same batch (a partial failure). Nil
	// for sinks whose destinations take a batch whole or not at all.
	Flaky func(t testing.TB, ids []string, times int)
	// Linger is the batch linger the suite's sinks get; 0: the
	// destination's default. A destination whose batches linger for
	// minutes by default (an archive's objects) sets a short one.
	Linger time.Duration
}

// New makes a Harness with a fresh destination; it cleans up after t.
type New func(t *testing.T) Harness

// Features says what a sink's destination does beyond the common
// contract.
type Features struct {
	// RecordRefusals: the destination refuses records one by one, so that
	// a refusal dead-letters only the refused records, not their batch.
	RecordRefusals bool
}
