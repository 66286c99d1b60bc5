package sqlite

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// testFrames is a segment of two frames, positions 1–2 and 3.
func testFrames() []byte {
	evs := []sluice.Event{
		{ID: "a", Stream: "s", Type: "t", Data: []byte(`{"n":1}`), Version: 1},
		{ID: "b", Stream: "s", Type: "t", Data: []byte(`{"n":2}`), Version: 2, Metadata: []byte(`{"m":1}`)},
		{ID: "c", Stream: "u", Type: "t", Data: []byte(`[]`), Version: 1},
	}
	b := encodeChunk(beginFrame(nil), evs[:2], time.Unix(1, 2))
	endFrame(b, 0, 1)
	at := len(b)
	b = encodeChunk(beginFrame(b), evs[2:], time.Unix(1, 2))
	endFrame(b, at, 3)
	return b
}

// FuzzSegment reads a segment file's bytes frame by frame, as recovery
// does: it never panics, and every frame it returns has the CRC its header
// says, covering the header and the payload it returns.
func FuzzSegment(f *testing.F) {
	good := testFrames()
	f.Add(good)
	f.Add(good[:len(good)-3])
	flipped := append([]byte(nil), good...)
	flipped[20] ^= 1
	f.Add(flipped)
	f.Add([]byte{})
	f.Add(make([]byte, frameHeader))
	f.Fuzz(func(t *testing.T, b []byte) {
		for off := 0; off < len(b); {
			first, payload, n, err := readFrame(b[off:])
			if err != nil {
				if !errors.Is(err, errTornFrame) && !errors.Is(err, errBadFrame) {
					t.Fatalf("offset %d: %v, want a torn or bad frame", off, err)
				}
				return
			}
			h := b[off : off+frameHeader]
			if n != int64(frameHeader+len(payload)) || off+int(n) > len(b) || string(payload) != string(b[off+frameHeader:off+int(n)]) {
				t.Fatalf("offset %d: a frame of %d bytes with a payload of %d", off, n, len(payload))
			}
			if frameCRC(h, payload) != binary.LittleEndian.Uint32(h[12:]) || sluice.Position(binary.LittleEndian.Uint64(h[4:])) != first {
				t.Fatalf("offset %d: readFrame returned a frame whose CRC or position is wrong", off)
			}
			_, _ = decodeChunk(payload, first) // must not panic either
			off += int(n)
		}
	})
}

// TestReadFrame: the frames of testFrames read back, with their positions;
// a cut or a flipped bit anywhere is a torn or a bad frame.
func TestReadFrame(t *testing.T) {
	b := testFrames()
	first, payload, n, err := readFrame(b)
	if err != nil || first != 1 {
		t.Fatalf("first frame: position %d, %v", first, err)
	}
	if evs, err := decodeChunk(payload, first); err != nil || len(evs) != 2 || evs[1].ID != "b" {
		t.Fatalf("first chunk: %+v, %v", evs, err)
	}
	if first, _, m, err := readFrame(b[n:]); err != nil || first != 3 || n+m != int64(len(b)) {
		t.Fatalf("second frame: position %d, %d bytes, %v", first, m, err)
	}
	for k := range int(n) {
		if _, _, _, err := readFrame(b[:k]); !errors.Is(err, errTornFrame) {
			t.Fatalf("cut at %d: %v, want a torn frame", k, err)
		}
		c := append([]byte(nil), b[:n]...)
		c[k] ^= 0x10
		if _, _, _, err := readFrame(c); err == nil {
			t.Fatalf("bit flipped at %d: no error", k)
		}
	}
}
