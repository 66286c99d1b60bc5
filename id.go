package sluice

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

var idState struct {
	sync.Mutex
	lastMilli uint64
	seq       uint16
}

// NewID returns a new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, a
// 12-bit counter that keeps ids from one process increasing within a
// millisecond, and 62 random bits. Time-ordered ids keep the log's id index
// append-mostly.
func NewID() string {
	var s [idLen]byte
	return string(appendNewIDs(s[:0], 1))
}

// idLen is the length of an id NewID makes.
const idLen = 36

// newIDs returns n new ids, as NewID makes them, in one string: one
// allocation, one lock and one read of random bytes per 64 ids instead of
// one each.
func newIDs(n int) string {
	var sb strings.Builder
	sb.Grow(n * idLen)
	var buf [64 * idLen]byte
	for n > 0 {
		k := min(n, 64)
		sb.Write(appendNewIDs(buf[:0], k))
		n -= k
	}
	return sb.String()
}

// appendNewIDs appends n ≤ 64 new ids to b.
func appendNewIDs(b []byte, n int) []byte {
	var random [64 * 10]byte // 80 random bits per id, 74 of them used
	_, _ = rand.Read(random[:n*10])
	ms := uint64(time.Now().UnixMilli())
	var seqs [64]uint16
	var millis [64]uint64
	idState.Lock()
	for i := range n {
		u := random[i*10:]
		if ms <= idState.lastMilli {
			ms = idState.lastMilli
			idState.seq++
			if idState.seq > 0x0fff { // counter exhausted: borrow the next millisecond
				ms++
				idState.seq = 0
			}
		} else {
			idState.seq = uint16(u[0])<<4&0x0ff0 | uint16(u[1]>>4) // random start, room to count
			idState.seq &= 0x07ff
		}
		idState.lastMilli = ms
		seqs[i], millis[i] = idState.seq, ms
	}
	idState.Unlock()

	for i := range n {
		var u [16]byte
		copy(u[6:], random[i*10:i*10+10])
		binary.BigEndian.PutUint64(u[0:8], millis[i]<<16)
		u[6] = 0x70 | byte(seqs[i]>>8)
		u[7] = byte(seqs[i])
		u[8] = u[8]&0x3f | 0x80
		var s [idLen]byte
		hex.Encode(s[0:8], u[0:4])
		s[8] = '-'
		hex.Encode(s[9:13], u[4:6])
		s[13] = '-'
		hex.Encode(s[14:18], u[6:8])
		s[18] = '-'
		hex.Encode(s[19:23], u[8:10])
		s[23] = '-'
		hex.Encode(s[24:36], u[10:16])
		b = append(b, s[:]...)
	}
	return b
}
