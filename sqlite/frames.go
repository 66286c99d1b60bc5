package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/sluicehq/sluice"
)

// A frame holds one chunk (chunk.go) in a segment file. Frames follow one
// another with nothing between them; a file is named by the first position
// of its first frame. A frame:
//
//	offset  size  field (integers little-endian)
//	0       4     n, the length of the payload
//	4       8     the first position of the chunk
//	12      4     CRC-32C (Castagnoli) of bytes 0–11 followed by the payload
//	16      n     the payload: the chunk's encoding
//
// The CRC covers the length and the position too, so that a frame whose
// header was torn or overwritten is never taken for a good one.
const frameHeader = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// errTornFrame: fewer bytes than a whole frame (a write cut short).
	errTornFrame = errors.New("torn frame")
	// errBadFrame: a whole frame whose CRC does not match.
	errBadFrame = errors.New("frame fails its CRC")
)

// beginFrame appends room for a frame's header to buf; the payload follows,
// and endFrame fills the header in.
func beginFrame(buf []byte) []byte {
	return append(buf, make([]byte, frameHeader)...)
}

// endFrame fills in the header of the frame that starts at buf[at:] and
// runs to the end of buf.
func endFrame(buf []byte, at int, first sluice.Position) {
	h, payload := buf[at:at+frameHeader], buf[at+frameHeader:]
	binary.LittleEndian.PutUint32(h[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[4:], uint64(first))
	binary.LittleEndian.PutUint32(h[12:], frameCRC(h, payload))
}

func frameCRC(header, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(header[:12], castagnoli), castagnoli, payload)
}

// frameLength is the length of the frame at the start of b as its header
// says, or errTornFrame when b is shorter than the header.
func frameLength(b []byte) (int64, error) {
	if len(b) < frameHeader {
		return 0, errTornFrame
	}
	return frameHeader + int64(binary.LittleEndian.Uint32(b)), nil
}

// readFrame checks the frame at the start of b and returns its first
// position, its payload (sharing b's memory) and its length: errTornFrame
// when b ends before the frame does, errBadFrame when its CRC is wrong.
func readFrame(b []byte) (first sluice.Position, payload []byte, length int64, err error) {
	length, err = frameLength(b)
	if err != nil {
		return 0, nil, 0, err
	}
	if length > int64(len(b)) {
		return 0, nil, 0, fmt.Errorf("%w: %d bytes of %d", errTornFrame, len(b), length)
	}
	payload = b[frameHeader:length:length]
	if frameCRC(b, payload) != binary.LittleEndian.Uint32(b[12:]) {
		return 0, nil, 0, errBadFrame
	}
	return sluice.Position(binary.LittleEndian.Uint64(b[4:])), payload, length, nil
}
