package bloom

import (
	"math/bits"
	"sync/atomic"
)

// BitsPerKey is the filter's size per key of capacity: 10 bits give a
// false-positive rate of about 1.3 % at capacity (TestFilter_FalsePositives).
const BitsPerKey = 10

// salts spread a key's 32 low bits over the eight words of its block.
var salts = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

// Filter is a set of 64-bit hashes that answers "maybe" or "certainly not".
// Add and MayContain may run at the same time: a MayContain concurrent
// with the Add of the same hash may miss it, never afterwards.
type Filter struct {
	words    []uint32 // blocks of 8
	blocks   uint64
	capacity int
}

// New returns a filter sized for capacity keys at BitsPerKey bits each.
func New(capacity int) *Filter {
	blocks := blocksFor(capacity)
	return &Filter{words: make([]uint32, blocks*8), blocks: blocks, capacity: capacity}
}

// blocksFor is the number of 256-bit blocks of a filter for capacity keys.
func blocksFor(capacity int) uint64 { return max(1, (uint64(capacity)*BitsPerKey+255)/256) }

// Capacity is the number of keys the filter was sized for; beyond it the
// false-positive rate rises.
func (f *Filter) Capacity() int { return f.capacity }

// Bytes is the filter's memory.
func (f *Filter) Bytes() int { return len(f.words) * 4 }

// block returns the words of h's block and the key that picks its bits.
func (f *Filter) block(h uint64) ([]uint32, uint32) {
	h = mix(h)
	i, _ := bits.Mul64(h, f.blocks) // the high bits, scaled to the block count
	return f.words[i*8 : i*8+8 : i*8+8], uint32(h)
}

// Add adds h.
func (f *Filter) Add(h uint64) {
	b, key := f.block(h)
	for i, s := range salts {
		if bit := uint32(1) << ((key * s) >> 27); atomic.LoadUint32(&b[i])&bit == 0 {
			atomic.OrUint32(&b[i], bit)
		}
	}
}

// MayContain reports whether h may have been added: false means it
// certainly was not.
func (f *Filter) MayContain(h uint64) bool {
	b, key := f.block(h)
	for i, s := range salts {
		if atomic.LoadUint32(&b[i])&(uint32(1)<<((key*s)>>27)) == 0 {
			return false
		}
	}
	return true
}

// mix is the finalizer of MurmurHash3: the callers' hashes (FNV-1a) are
// not uniform enough in their high bits on their own, and the block is
// chosen by them.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
