package sink

import (
	"sync/atomic"
	"time"
)

// Counts are what a runner has done since its process started it.
type Counts struct {
	// Delivered counts records the destination took (a record sent again
	// counts again).
	Delivered uint64 `json:"delivered"`
	// Failed counts deliveries of a record that failed.
	Failed uint64 `json:"failed"`
	// Retried counts records sent again after a failure.
	Retried uint64 `json:"retried"`
	// DeadLettered counts records given up on.
	DeadLettered uint64 `json:"dead_lettered"`
	// Batches counts calls of the sink's Deliver.
	Batches uint64 `json:"batches"`
	// Skipped counts the positions the sink passed over because retention
	// had removed them before it delivered them.
	Skipped uint64 `json:"skipped"`
}

// counts is Counts, updated atomically.
type counts struct {
	delivered, failed, retried, deadLettered, batches, skipped atomic.Uint64
}

func (c *counts) snapshot() Counts {
	return Counts{Delivered: c.delivered.Load(), Failed: c.failed.Load(), Retried: c.retried.Load(),
		DeadLettered: c.deadLettered.Load(), Batches: c.batches.Load(), Skipped: c.skipped.Load()}
}

// Histogram is a snapshot of a cumulative histogram, as Prometheus takes
// it: for each upper bound, the observations at or below it.
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64
}

// histogram counts observations in fixed buckets; safe for concurrent use.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // one per bound, then one for the rest
	sum    atomic.Uint64   // of observations × 1e6, so that it adds up atomically
}

func newHistogram(bounds ...float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(uint64(v * 1e6))
}

func (h *histogram) snapshot() Histogram {
	s := Histogram{Buckets: make(map[float64]uint64, len(h.bounds)), Sum: float64(h.sum.Load()) / 1e6}
	for i, b := range h.bounds {
		s.Count += h.counts[i].Load()
		s.Buckets[b] = s.Count
	}
	s.Count += h.counts[len(h.bounds)].Load()
	return s
}

// Stats are one runner's figures, for the metrics of the process that runs
// it.
type Stats struct {
	Name   string
	Counts Counts
	// BatchSizes are the records per Deliver call.
	BatchSizes Histogram
	// Latency is from an event's commit to its acknowledgement by the
	// destination, in seconds, for live deliveries.
	Latency Histogram
	// Breaker is the circuit breaker's state: 0 closed, 1 half-open, 2
	// open.
	Breaker int
	// Running reports whether this process runs the sink now.
	Running bool
}

// Buckets of the histograms.
var (
	batchBounds   = []float64{1, 10, 50, 100, 250, 500, 1000, 5000}
	latencyBounds = []float64{.001, .0025, .005, .01, .02, .05, .1, .25, 1, 5, 30, 300}
)

// since returns the seconds from t to now, 0 for a zero t.
func since(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return time.Since(t).Seconds()
}
