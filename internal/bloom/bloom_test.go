package bloom

import (
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
)

// fnvOf is the hash the dedupe index feeds the filter: FNV-1a of the id.
func fnvOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// uuid is a random UUIDv4-like id, as SDKs send them.
func uuid(r *rand.Rand) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 36)
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		default:
			b[i] = hex[r.IntN(16)]
		}
	}
	return string(b)
}

// TestFilter_NoFalseNegatives: every one of 1M added hashes is found, also
// while another goroutine keeps adding.
func TestFilter_NoFalseNegatives(t *testing.T) {
	const n = 1_000_000
	f := New(n)
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]uint64, n)
	for i := range keys {
		keys[i] = fnvOf(uuid(r))
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, k := range keys[n/2:] {
			f.Add(k)
		}
	})
	for _, k := range keys[:n/2] {
		f.Add(k)
	}
	for _, k := range keys[:n/2] { // concurrent with the other half's adds
		if !f.MayContain(k) {
			t.Fatalf("added %x, not found", k)
		}
	}
	wg.Wait()
	for _, k := range keys {
		if !f.MayContain(k) {
			t.Fatalf("added %x, not found", k)
		}
	}
}

// TestFilter_FalsePositives: filled to capacity with hashes of random
// UUIDs, the filter answers "maybe" for at most twice the target rate of
// other UUIDs; half full, for fewer. Sequential ids (UUIDv7-like, counters)
// hash as well.
func TestFilter_FalsePositives(t *testing.T) {
	const target = 0.013 // BitsPerKey's rate at capacity
	for _, tc := range []struct {
		name string
		id   func(r *rand.Rand, i int) string
	}{
		{"Random", func(r *rand.Rand, i int) string { return uuid(r) }},
		{"Sequential", func(r *rand.Rand, i int) string { return "evt-" + strconv.Itoa(i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n, probes = 1_000_000, 1_000_000
			r := rand.New(rand.NewPCG(3, 4))
			f := New(n)
			rate := func() float64 {
				fp := 0
				for i := range probes {
					if f.MayContain(fnvOf(tc.id(r, n+i) + "#probe")) {
						fp++
					}
				}
				return float64(fp) / probes
			}
			for i := range n / 2 {
				f.Add(fnvOf(tc.id(r, i)))
			}
			half := rate()
			for i := n / 2; i < n; i++ {
				f.Add(fnvOf(tc.id(r, i)))
			}
			full := rate()
			t.Logf("false positives: %.4f%% half full, %.4f%% full (%d bytes for %d keys)", 100*half, 100*full, f.Bytes(), n)
			if full > 2*target || half >= full {
				t.Fatalf("false-positive rate %.4f full, %.4f half full; want at most %.4f, and fewer half full", full, half, 2*target)
			}
		})
	}
}

func BenchmarkFilter(b *testing.B) {
	const n = 50_000_000
	f := New(n)
	r := rand.New(rand.NewPCG(5, 6))
	keys := make([]uint64, 1<<16)
	for i := range keys {
		keys[i] = r.Uint64()
	}
	b.Run("Add", func(b *testing.B) {
		i := 0
		for b.Loop() {
			f.Add(keys[i&(len(keys)-1)])
			i++
		}
	})
	b.Run("MayContain", func(b *testing.B) {
		i := 0
		for b.Loop() {
			f.MayContain(keys[i&(len(keys)-1)] + 1)
			i++
		}
	})
}
