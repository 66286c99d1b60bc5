package bench

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogram(t *testing.T) {
	t.Parallel()
	within := func(t *testing.T, name string, got, want time.Duration) {
		t.Helper()
		if got < want || float64(got-want) > float64(want)/64 {
			t.Errorf("%s = %v, want %v to %v", name, got, want, want+want/64)
		}
	}
	t.Run("Uniform", func(t *testing.T) {
		var h histogram
		for _, i := range rand.Perm(10_000) {
			h.record(time.Duration(i+1) * time.Microsecond) // 1µs … 10ms
		}
		within(t, "p50", h.quantile(0.50), 5*time.Millisecond)
		within(t, "p90", h.quantile(0.90), 9*time.Millisecond)
		within(t, "p99", h.quantile(0.99), 9900*time.Microsecond)
		if h.max != 10*time.Millisecond || h.quantile(1) != 10*time.Millisecond {
			t.Errorf("max %v, p100 %v, want 10ms", h.max, h.quantile(1))
		}
	})
	t.Run("Skewed", func(t *testing.T) {
		var a, b histogram
		for range 990 {
			a.record(time.Millisecond)
		}
		for range 10 {
			b.record(2 * time.Second)
		}
		a.merge(&b)
		within(t, "p50", a.quantile(0.50), time.Millisecond)
		within(t, "p99", a.quantile(0.99), time.Millisecond)
		within(t, "p99.9", a.quantile(0.999), 2*time.Second)
		if l := a.latency(); l.Max != 2*time.Second || a.n != 1000 {
			t.Errorf("latency %+v of %d samples", l, a.n)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		var h histogram
		if l := h.latency(); l != (Latency{}) {
			t.Errorf("latency of nothing %+v", l)
		}
	})
	t.Run("Buckets", func(t *testing.T) {
		for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 30, 1<<44 - 1, 1 << 50} {
			i := bucket(v)
			if i < 0 || i >= histBuckets {
				t.Fatalf("bucket(%d) = %d, out of range", v, i)
			}
			if v < 1<<44 && (upper(i) < v || (i > 0 && upper(i-1) >= v)) {
				t.Errorf("%d in bucket %d, bounds (%d, %d]", v, i, upper(i-1), upper(i))
			}
		}
	})
}
