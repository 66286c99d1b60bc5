package sluice

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// Field limits of the envelope.
const (
	MaxIDBytes     = 128
	MaxTypeBytes   = 128
	MaxStreamBytes = 256
	// DefaultMaxEventBytes is the default bound on one event's Size.
	DefaultMaxEventBytes = 1 << 20
)

// Limits bounds what a store accepts.
type Limits struct {
	// MaxEventBytes bounds one event's Size. Default 1 MiB.
	MaxEventBytes int
	// JSONChecked says the caller has already checked that every event's
	// Data and Metadata are well-formed JSON (the HTTP decoder does as it
	// parses), so Prepare does not scan them again; it still requires
	// Metadata to be an object. Default false.
	JSONChecked bool
	// System allows streams whose names start with SystemStreamPrefix: only
	// sluice's own appends (the audit trail of keys) set it. Default false.
	System bool
}

// DefaultLimits are the limits when none are configured.
var DefaultLimits = Limits{MaxEventBytes: DefaultMaxEventBytes}

// Prepare checks every event of reqs against the envelope's rules and fills
// in, in place, what is missing: an id (UUIDv7) and the stream (the request's
// stream, else the type). It returns the first *EventError found, or an
// error for a malformed stream request. A request that Prepare has passed
// is marked and not checked again (the Writer checks at Submit, the store
// at Append), so a caller must not change its events after Prepare.
func (l Limits) Prepare(reqs []AppendRequest) error {
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = DefaultMaxEventBytes
	}
	ids := idSource{n: missingIDs(reqs)}
	for r := range reqs {
		req := &reqs[r]
		if req.prepared {
			continue
		}
		if len(req.Events) == 0 {
			return &EventError{Field: "events", Reason: "at least one event is required"}
		}
		if req.Stream != "" {
			if reason := l.checkStream(req.Stream); reason != "" {
				return &EventError{Index: 0, Field: "stream", Reason: reason}
			}
		}
		for i := range req.Events {
			e := &req.Events[i]
			if req.Stream != "" {
				if e.Stream != "" && e.Stream != req.Stream {
					return &EventError{Index: i, ID: e.ID, Field: "stream", Reason: fmt.Sprintf("is %q in an append to stream %q", e.Stream, req.Stream)}
				}
				e.Stream = req.Stream
			}
			if err := l.checkEvent(i, e, &ids); err != nil {
				return err
			}
		}
	}
	for r := range reqs {
		reqs[r].prepared = true
	}
	return nil
}

// missingIDs counts the events without an id in the requests not yet
// prepared.
func missingIDs(reqs []AppendRequest) int {
	n := 0
	for r := range reqs {
		if reqs[r].prepared {
			continue
		}
		for i := range reqs[r].Events {
			if reqs[r].Events[i].ID == "" {
				n++
			}
		}
	}
	return n
}

// idSource hands out the ids of one Prepare, made together on first use
// (newIDs).
type idSource struct {
	n   int    // ids still to make
	ids string // made and not handed out
}

func (s *idSource) next() string {
	if s.ids == "" {
		s.ids, s.n = newIDs(max(s.n, 1)), 0
	}
	id := s.ids[:idLen]
	s.ids = s.ids[idLen:]
	return id
}

// checkEvent checks one event and fills in its id, from ids, and stream.
func (l Limits) checkEvent(i int, e *Event, ids *idSource) error {
	fail := func(field, reason string) error {
		return &EventError{Index: i, ID: e.ID, Field: field, Reason: reason}
	}
	if len(e.ID) > MaxIDBytes {
		return fail("id", fmt.Sprintf("is %d bytes, at most %d allowed", len(e.ID), MaxIDBytes))
	}
	if e.ID != "" && !printable(e.ID) {
		return fail("id", "must be UTF-8 without control characters")
	}
	if reason := checkType(e.Type); reason != "" {
		return fail("type", reason)
	}
	if e.Stream == "" {
		e.Stream = e.Type
	} else if reason := l.checkStream(e.Stream); reason != "" {
		return fail("stream", reason)
	}
	if e.Time != "" {
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
			return fail("time", "is not an RFC 3339 time")
		}
	}
	if len(e.Data) == 0 {
		return fail("data", "is required")
	}
	if !l.JSONChecked && !jsonscan.Valid(e.Data) {
		return fail("data", "is not valid JSON")
	}
	if len(e.Metadata) > 0 && ((!l.JSONChecked && !jsonscan.Valid(e.Metadata)) || firstByte(e.Metadata) != '{') {
		return fail("metadata", "must be a JSON object")
	}
	if e.ID == "" {
		e.ID = ids.next()
	}
	if size := e.Size(); size > l.MaxEventBytes {
		return fail("size", fmt.Sprintf("event is %d bytes, at most %d allowed", size, l.MaxEventBytes))
	}
	return nil
}

// CheckStream returns an error saying what is wrong with a stream name, or
// nil when the name is 1–256 bytes of UTF-8 without control characters,
// not "." or ".." (the HTTP API addresses streams by path segment), and not
// starting with SystemStreamPrefix (reserved for sluice's own streams).
func CheckStream(name string) error {
	if reason := (Limits{}).checkStream(name); reason != "" {
		return fmt.Errorf("stream %q: %s", name, reason)
	}
	return nil
}

// CheckType returns an error saying what is wrong with an event type, or
// nil when it is 1–128 of A-Z a-z 0-9 . _ : -.
func CheckType(t string) error {
	if reason := checkType(t); reason != "" {
		return fmt.Errorf("type %q: %s", t, reason)
	}
	return nil
}

func checkType(t string) string {
	if len(t) == 0 || len(t) > MaxTypeBytes {
		return fmt.Sprintf("must be 1 to %d characters", MaxTypeBytes)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fmt.Sprintf("has %q at byte %d; only A-Z a-z 0-9 . _ : - are allowed", c, i)
		}
	}
	return ""
}

func (l Limits) checkStream(s string) string {
	if len(s) == 0 || len(s) > MaxStreamBytes {
		return fmt.Sprintf("must be 1 to %d bytes", MaxStreamBytes)
	}
	if s == "." || s == ".." {
		return `cannot be "." or "..": no URL path can name it`
	}
	if !printable(s) {
		return "must be UTF-8 without control characters"
	}
	if !l.System && strings.HasPrefix(s, SystemStreamPrefix) {
		return "names starting with " + SystemStreamPrefix + " are reserved for sluice's own streams"
	}
	return ""
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// firstByte returns the first byte of b that is not JSON whitespace.
func firstByte(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return c
		}
	}
	return 0
}
