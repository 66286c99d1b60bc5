// Package bloom is a split-block Bloom filter over 64-bit hashes that is
// safe for one writer and any number of readers at once, with no lock: the
// embedded log's dedupe index asks it, on every commit, whether an id may be
// on disk, while a background goroutine adds the ids it writes there.
//
// Each key sets one bit in each of the eight 32-bit words of one 32-byte
// block (the layout of Parquet's and Impala's filters), so a lookup touches
// one cache line. docs/decisions.md (D90) has the measurements behind the
// layout and the bits per key.
package bloom
