package httpapi

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/jsonscan"
)

// members collects an event's members as they are read: the event, the
// first problem met, and the text of its string members, which setTexts
// makes strings in one allocation.
type members struct {
	ev    sluice.Event
	err   *EventProblem
	texts [numTexts][]byte
}

// The string members of an event, by their index in members.texts.
const (
	textID = iota
	textType
	textStream
	textSource
	textTime
	numTexts
)

// fail records a problem at path unless one is recorded already.
func (m *members) fail(path, message string) {
	if m.err == nil {
		m.err = &EventProblem{Path: path, Message: message}
	}
}

// see adds the member name key to seen, failing when it is there already.
func (m *members) see(seen [][]byte, key []byte) [][]byte {
	for _, k := range seen {
		if string(k) == string(key) {
			m.fail(pointer(key), "is given more than once")
			return seen
		}
	}
	return append(seen, key)
}

// require fails with path when the text of field is empty.
func (m *members) require(field int, path string) {
	if len(m.texts[field]) == 0 {
		m.fail(path, "is required")
	}
}

// item returns the decoded item.
func (m *members) item() Item {
	return Item{Event: m.ev, Err: m.err}
}

// text reads the value at b[v], which must be a string, as the text of
// field; null leaves it empty.
func (m *members) text(b []byte, v, depth int, path string, field int) (int, *jsonscan.SyntaxError) {
	var err *jsonscan.SyntaxError
	m.texts[field], v, err = m.str(b, v, depth, path)
	return v, err
}

// str reads the value at b[v], which must be a string, and returns its
// text; null is nil.
func (m *members) str(b []byte, v, depth int, path string) ([]byte, int, *jsonscan.SyntaxError) {
	switch b[v] {
	case '"':
		end, plain, err := jsonscan.String(b, v)
		if err != nil {
			return nil, end, err
		}
		return jsonscan.Unquote(b[v:end], plain), end, nil
	case 'n':
		end, err := jsonscan.Literal(b, v, "null")
		return nil, end, err
	}
	m.fail(path, "must be a string, not "+kindOf(b[v]))
	end, err := jsonscan.SkipValue(b, v, depth)
	return nil, end, err
}

// setTexts makes the event's string fields from their texts, in one
// allocation.
func (m *members) setTexts() {
	n := 0
	for _, t := range m.texts {
		n += len(t)
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, t := range m.texts {
		sb.Write(t)
	}
	all := sb.String()
	for i, dst := range [numTexts]*string{&m.ev.ID, &m.ev.Type, &m.ev.Stream, &m.ev.Source, &m.ev.Time} {
		*dst, all = all[:len(m.texts[i])], all[len(m.texts[i]):]
	}
}

// object reads the value at b[v] into dst, which must be an object; null
// leaves dst empty.
func (m *members) object(b []byte, v, depth int, path string, dst *json.RawMessage) (int, *jsonscan.SyntaxError) {
	switch b[v] {
	case '{':
		end, err := jsonscan.SkipValue(b, v, depth)
		*dst = b[v:end:end]
		return end, err
	case 'n':
		return jsonscan.Literal(b, v, "null")
	}
	m.fail(path, "must be a JSON object, not "+kindOf(b[v]))
	return jsonscan.SkipValue(b, v, depth)
}

// decodeEnvelope decodes a native envelope: id, type, stream, source and
// time (strings; null is as if absent), data (any JSON value, required),
// and metadata (an object). Any other member is an error.
func decodeEnvelope(b []byte, i, depth int) (Item, int, *jsonscan.SyntaxError) {
	return decodeEvent(b, i, depth, false)
}

// decodeStored decodes a stored event as the log API and sluice export
// write it: an envelope that may also have position and version (whole
// numbers) and recorded_at (an RFC 3339 time), read into the event.
func decodeStored(b []byte, i, depth int) (Item, int, *jsonscan.SyntaxError) {
	return decodeEvent(b, i, depth, true)
}

// decodeEvent decodes an envelope, and a stored event's members too when
// stored is set.
func decodeEvent(b []byte, i, depth int, stored bool) (Item, int, *jsonscan.SyntaxError) {
	if b[i] != '{' {
		end, err := jsonscan.SkipValue(b, i, depth)
		return Item{Err: &EventProblem{Message: "an event must be a JSON object"}}, end, err
	}
	var (
		m    members
		buf  [8][]byte
		seen = buf[:0]
	)
	o := jsonscan.ObjectReader{B: b, Pos: i, Depth: depth}
	for {
		key, _, ok, err := o.Next()
		if err != nil {
			return Item{}, o.Pos, err
		}
		if !ok {
			break
		}
		seen = m.see(seen, key)
		v, d := o.Pos, depth+1
		switch string(key) {
		case "id":
			o.Pos, err = m.text(b, v, d, "/id", textID)
		case "type":
			o.Pos, err = m.text(b, v, d, "/type", textType)
		case "stream":
			o.Pos, err = m.text(b, v, d, "/stream", textStream)
		case "source":
			o.Pos, err = m.text(b, v, d, "/source", textSource)
		case "time":
			o.Pos, err = m.text(b, v, d, "/time", textTime)
		case "data":
			o.Pos, err = jsonscan.SkipValue(b, v, d)
			m.ev.Data = b[v:o.Pos:o.Pos]
		case "metadata":
			o.Pos, err = m.object(b, v, d, "/metadata", &m.ev.Metadata)
		case "position", "version", "recorded_at":
			if stored {
				o.Pos, err = m.stored(b, v, d, key)
				break
			}
			fallthrough
		default:
			m.fail(pointer(key), "unknown field; an event has id, type, stream, source, time, data and metadata")
			o.Pos, err = jsonscan.SkipValue(b, v, d)
		}
		if err != nil {
			return Item{}, o.Pos, err
		}
	}
	m.setTexts()
	m.require(textType, "/type")
	if m.ev.Data == nil {
		m.fail("/data", "is required")
	}
	return m.item(), o.Pos, nil
}

// stored reads the value at b[v] of the stored member key (position,
// version or recorded_at) into the event; null leaves it unset.
func (m *members) stored(b []byte, v, depth int, key []byte) (int, *jsonscan.SyntaxError) {
	path := pointer(key)
	if string(key) == "recorded_at" {
		t, end, err := m.str(b, v, depth, path)
		if err != nil || t == nil {
			return end, err
		}
		at, perr := time.Parse(time.RFC3339Nano, string(t))
		if perr != nil {
			m.fail(path, "is not an RFC 3339 time")
		}
		m.ev.RecordedAt = at
		return end, nil
	}
	if b[v] == 'n' {
		return jsonscan.Literal(b, v, "null")
	}
	end, err := jsonscan.SkipValue(b, v, depth)
	if err != nil {
		return end, err
	}
	n, perr := strconv.ParseUint(string(b[v:end]), 10, 64)
	if perr != nil {
		m.fail(path, "must be a whole number")
	}
	if string(key) == "position" {
		m.ev.Position = sluice.Position(n)
	} else {
		m.ev.Version = n
	}
	return end, nil
}

// pointer is the JSON pointer of the member key of an event.
func pointer(key []byte) string {
	return "/" + pointerEscaper.Replace(string(key))
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// kindOf names the kind of the JSON value that starts with c.
func kindOf(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
