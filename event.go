package sluice

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// Position is an event's place in the log: 1, 2, 3 … strictly increasing in
// commit order, with no gaps ever visible to a reader. Zero means "before
// the first event".
type Position uint64

// Event is the one internal form of every accepted event. The JSON names are
// those of the HTTP API (CloudEvents 1.0 attribute names where they exist).
type Event struct {
	// ID is unique in the log; assigned (UUIDv7) when empty.
	ID string `json:"id"`
	// Type is 1–128 of A-Za-z0-9._:-.
	Type string `json:"type"`
	// Stream is 1–256 bytes without control characters; defaults to Type.
	Stream string `json:"stream"`
	// Source is who sent the event; the edge defaults it to the key's name.
	Source string `json:"source,omitempty"`
	// Time is the client's time as given (RFC 3339), or empty.
	Time string `json:"time,omitempty"`
	// Data is any JSON value, kept byte for byte.
	Data json.RawMessage `json:"data"`
	// Metadata is a JSON object, or empty.
	Metadata json.RawMessage `json:"metadata,omitempty"`

	// Position, Version and RecordedAt are set by the store.
	Position   Position  `json:"position,omitempty"`
	Version    uint64    `json:"version,omitempty"`
	RecordedAt time.Time `json:"recorded_at,omitzero"`
}

// Size is the number of bytes the event's fields take, the measure that
// Limits.MaxEventBytes bounds.
func (e *Event) Size() int {
	return len(e.ID) + len(e.Type) + len(e.Stream) + len(e.Source) + len(e.Time) + len(e.Data) + len(e.Metadata)
}

// Category is the part of a stream name before its first '-' ("order-42" →
// "order"), or the whole name when it has none.
func Category(stream string) string {
	if i := strings.IndexByte(stream, '-'); i >= 0 {
		return stream[:i]
	}
	return stream
}

// Filter selects events of the log. A zero Filter selects every event.
type Filter struct {
	// Types, when not empty, keeps events of these types.
	Types []string `json:"types,omitempty"`
	// StreamPrefix, when not empty, keeps events whose stream starts with it.
	StreamPrefix string `json:"stream_prefix,omitempty"`
	// Category, when not empty, keeps events whose stream's category is it.
	Category string `json:"category,omitempty"`
}

// Match reports whether the filter keeps e.
func (f Filter) Match(e *Event) bool {
	if len(f.Types) > 0 {
		found := false
		for _, t := range f.Types {
			if t == e.Type {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if f.StreamPrefix != "" && !strings.HasPrefix(e.Stream, f.StreamPrefix) {
		return false
	}
	if f.Category != "" && Category(e.Stream) != f.Category {
		return false
	}
	return true
}

// IsZero reports whether the filter keeps every event.
func (f Filter) IsZero() bool {
	return len(f.Types) == 0 && f.StreamPrefix == "" && f.Category == ""
}

// AppendJSON appends the event's JSON, with the names and omissions of its
// field tags, and Data and Metadata byte for byte as stored: encoding/json
// would compact them and escape <, > and &.
func (e *Event) AppendJSON(b []byte) []byte {
	b = jsonscan.AppendMember(b, `{"id":`, e.ID)
	b = jsonscan.AppendMember(b, `,"type":`, e.Type)
	b = jsonscan.AppendMember(b, `,"stream":`, e.Stream)
	if e.Source != "" {
		b = jsonscan.AppendMember(b, `,"source":`, e.Source)
	}
	if e.Time != "" {
		b = jsonscan.AppendMember(b, `,"time":`, e.Time)
	}
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	}
	b = append(b, e.Data...)
	if len(e.Metadata) > 0 {
		b = append(b, `,"metadata":`...)
		b = append(b, e.Metadata...)
	}
	if e.Position != 0 {
		b = append(b, `,"position":`...)
		b = strconv.AppendUint(b, uint64(e.Position), 10)
	}
	if e.Version != 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendUint(b, e.Version, 10)
	}
	if !e.RecordedAt.IsZero() {
		b = append(b, `,"recorded_at":"`...)
		b = e.RecordedAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	return append(b, '}')
}
