package sluice

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
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
	var u [16]byte
	_, _ = rand.Read(u[6:])
	ms := uint64(time.Now().UnixMilli())

	idState.Lock()
	if ms <= idState.lastMilli {
		ms = idState.lastMilli
		idState.seq++
		if idState.seq > 0x0fff { // counter exhausted: borrow the next millisecond
			ms++
			idState.seq = 0
		}
	} else {
		idState.seq = uint16(u[6])<<4&0x0ff0 | uint16(u[7]>>4) // random start, room to count
		idState.seq &= 0x07ff
	}
	idState.lastMilli = ms
	seq := idState.seq
	idState.Unlock()

	binary.BigEndian.PutUint64(u[0:8], ms<<16)
	u[6] = 0x70 | byte(seq>>8)
	u[7] = byte(seq)
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], u[10:16])
	return string(s[:])
}
