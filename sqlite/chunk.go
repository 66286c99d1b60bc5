package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// A chunk holds the events of consecutive positions, written by one commit,
// as one row: storing events one row each costs a dozen bound parameters
// and a B-tree insert per event, which capped the log near 40,000 events/s
// (docs/decisions.md). Its encoding:
//
//	byte     format (1)
//	uvarint  number of events
//	varint   recorded_at, Unix nanoseconds (one commit time for all)
//	per event:
//	  uvarint version
//	  id, stream, type, source, time, data, metadata:
//	    each a uvarint length and that many bytes
//
// Positions are implicit: first_position, first_position+1, ….
const chunkFormat = 1

// Chunk bounds: a commit's events are split into chunks of at most this
// many events or bytes, so that a reader never decodes much more than it
// returns.
const (
	chunkMaxEvents = 512
	chunkMaxBytes  = 512 << 10
)

// Room an encoding takes beyond the fields' bytes, to size buffers: a
// chunk's header (format, count, time: at most 1+10+10 bytes, rounded up),
// and an event's version and seven lengths (usually 1 and 1–3 bytes each;
// a larger event just makes the buffer grow).
const (
	chunkHeaderMax = 24
	eventOverhead  = 24
)

var errBadChunk = errors.New("corrupt chunk")

// encodeChunk appends the encoding of evs to buf.
func encodeChunk(buf []byte, evs []sluice.Event, recorded time.Time) []byte {
	buf = append(buf, chunkFormat)
	buf = binary.AppendUvarint(buf, uint64(len(evs)))
	buf = binary.AppendVarint(buf, recorded.UnixNano())
	for i := range evs {
		e := &evs[i]
		buf = binary.AppendUvarint(buf, e.Version)
		for _, f := range [...]string{e.ID, e.Stream, e.Type, e.Source, e.Time} {
			buf = appendField(buf, f)
		}
		buf = appendField(buf, e.Data)
		buf = appendField(buf, e.Metadata)
	}
	return buf
}

// appendField appends a field: its length, then its bytes.
func appendField[T ~string | ~[]byte](buf []byte, f T) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(f)))
	return append(buf, f...)
}

// decodeChunk decodes a chunk whose first event is at position first. The
// events' Data and Metadata share b's memory.
func decodeChunk(b []byte, first sluice.Position) ([]sluice.Event, error) {
	d := decoder{b: b}
	if format := d.byte(); format != chunkFormat {
		return nil, fmt.Errorf("%w: format %d", errBadChunk, format)
	}
	n := d.uvarint()
	recordedNanos := d.varint()
	if d.err != nil || n > uint64(len(d.b))/8 { // every event takes at least 8 bytes
		return nil, fmt.Errorf("%w: header", errBadChunk)
	}
	recorded := time.Unix(0, recordedNanos).UTC()
	evs := make([]sluice.Event, n)
	for i := range evs {
		e := &evs[i]
		e.Position = first + sluice.Position(i)
		e.RecordedAt = recorded
		e.Version = d.uvarint()
		e.ID = string(d.bytes())
		e.Stream = string(d.bytes())
		e.Type = string(d.bytes())
		e.Source = string(d.bytes())
		e.Time = string(d.bytes())
		e.Data = d.bytes()
		if meta := d.bytes(); len(meta) > 0 {
			e.Metadata = meta
		}
		if d.err != nil {
			return nil, fmt.Errorf("%w: event %d", errBadChunk, i)
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadChunk, len(d.b))
	}
	return evs, nil
}

// decoder reads a chunk; after the first error every read returns zero.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errBadChunk
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errBadChunk
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadChunk
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errBadChunk
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
