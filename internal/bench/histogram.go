package bench

import (
	"math"
	"math/bits"
	"time"
)

// A histogram counts durations in logarithmic buckets, as HdrHistogram
// does: values below 64 ns exactly, then 64 buckets per power of two, so
// that a percentile is within 1/64 (1.6 %) of the true value whatever the
// number of samples, in a fixed 20 KB. Durations above 2^44 ns (4.9 hours)
// count as 2^44 ns. Not safe for concurrent use: each worker of Run keeps
// its own and they are merged at the end.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    time.Duration
}

const (
	subBits     = 6 // 64 sub-buckets per power of two
	subBuckets  = 1 << subBits
	maxExp      = 44 // the largest value counted is 2^44 - 1 ns
	histBuckets = (maxExp - subBits + 1) * subBuckets
)

// bucket is the index of the bucket of v ns.
func bucket(v int64) int {
	if v < subBuckets {
		return int(max(v, 0))
	}
	v = min(v, 1<<maxExp-1)
	e := bits.Len64(uint64(v)) - subBits - 1 // v>>e is in [64, 128)
	return (e+1)*subBuckets + int(v>>e) - subBuckets
}

// upper is the largest value that falls in bucket i.
func upper(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	e := i/subBuckets - 1
	m := int64(i%subBuckets + subBuckets)
	return (m+1)<<e - 1
}

// record counts d.
func (h *histogram) record(d time.Duration) {
	h.counts[bucket(int64(d))]++
	h.n++
	h.max = max(h.max, d)
}

// merge adds o's counts to h's.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the smallest bucket bound below which a share q (0..1)
// of the samples lie, at most the largest sample; 0 when there is none.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(upper(i)), h.max)
		}
	}
	return h.max
}

// latency summarizes h.
func (h *histogram) latency() Latency {
	return Latency{P50: h.quantile(0.50), P90: h.quantile(0.90), P99: h.quantile(0.99), Max: h.max}
}
