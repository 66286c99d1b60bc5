package jetstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/sluicehq/sluice"
)

// Headers sluice sets on the log's messages, beside JetStream's own.
const (
	// hdrVersion is the event's version in its stream.
	hdrVersion = "Sluice-Version"
	// hdrPrev is the position of the stream's previous event (absent for
	// version 1): ReadStream walks a stream backwards along it.
	hdrPrev = "Sluice-Prev"
)

// encodeBody lays an event out as one message body: the envelope's length
// (uvarint) and JSON, the data's length (uvarint) and bytes, then the
// metadata. Data and metadata stay byte for byte as given.
func encodeBody(e *sluice.Event) ([]byte, error) {
	r, err := sluice.NewEventRecord(e)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 2*binary.MaxVarintLen32+len(r.Envelope)+len(r.Data)+len(r.Metadata))
	b = binary.AppendUvarint(b, uint64(len(r.Envelope)))
	b = append(b, r.Envelope...)
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	b = append(b, r.Data...)
	return append(b, r.Metadata...), nil
}

var errBadBody = errors.New("malformed event message")

// decodeBody reverses encodeBody.
func decodeBody(b []byte) (sluice.Event, error) {
	var r sluice.EventRecord
	var ok bool
	if r.Envelope, b, ok = cut(b); !ok {
		return sluice.Event{}, errBadBody
	}
	if r.Data, b, ok = cut(b); !ok {
		return sluice.Event{}, errBadBody
	}
	if len(b) > 0 {
		r.Metadata = b
	}
	return r.Event()
}

// cut splits a uvarint-prefixed field off b.
func cut(b []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// decodeEvent is the event a log message holds, at position seq.
func decodeEvent(seq uint64, h nats.Header, body []byte) (sluice.Event, error) {
	e, err := decodeBody(body)
	if err != nil {
		return e, fmt.Errorf("position %d: %w", seq, err)
	}
	v, err := strconv.ParseUint(h.Get(hdrVersion), 10, 64)
	if err != nil {
		return e, fmt.Errorf("position %d: version header: %w", seq, err)
	}
	e.Position, e.Version = sluice.Position(seq), v
	return e, nil
}

// prevPosition is the hdrPrev header of h, 0 when absent.
func prevPosition(h nats.Header) (sluice.Position, error) {
	s := h.Get(hdrPrev)
	if s == "" {
		return 0, nil
	}
	p, err := strconv.ParseUint(s, 10, 64)
	return sluice.Position(p), err
}
