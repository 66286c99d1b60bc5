package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
)

// This file turns request bodies into events. Bodies are read whole into
// memory (within the limits) and scanned once, in place: a single pass finds
// each element, checks the JSON syntax and picks out the envelope's members.
// encoding/json costs about 3 ms for 500 events of 400 bytes (two scanner
// passes and a copy of every data value); this costs a fraction of that.
// Data and metadata values are slices of the body, byte for byte as sent.
//
// Member names are matched exactly (case-sensitive, unlike encoding/json), and
// a member given twice makes the event invalid: a body must mean one thing.

// Item is one element of a request body: a decoded event, or why that element
// is not one.
type Item struct {
	Event sluice.Event
	// Err is nil when Event is usable.
	Err *EventProblem
}

// DecodeIngest reads the body of an ingest request (POST /v1/events) into
// items, one per element, in order. A problem with the body as a whole is
// returned as a *Problem; a problem with one element is that item's Err, and
// the other elements are still decoded.
//
// The Content-Type chooses the format (parameters are ignored):
//   - application/json, text/plain (what navigator.sendBeacon sends), or none:
//     one native envelope, or a JSON array of them;
//   - application/x-ndjson, application/ndjson, application/jsonl: one
//     envelope per non-empty line; a malformed line is that item's Err;
//   - application/cloudevents+json and application/cloudevents-batch+json:
//     CloudEvents 1.0 in structured mode, one event or an array of them
//     (both types take both shapes); see decodeCloudEvent for the mapping.
//
// Content-Encoding gzip is decompressed. The body as sent is bounded by
// l.MaxBodyBytes, once decompressed by l.MaxDecompressedBytes, and may hold at
// most l.MaxEvents elements. Data and Metadata share the body's memory.
func DecodeIngest(r *http.Request, l Limits) ([]Item, *Problem) {
	return decodeRequest(r, l, ingestFormats)
}

// DecodeStreamAppend reads the body of an append to one stream (POST
// /v1/streams/{stream}/events): one native envelope, a JSON array of them, or
// NDJSON, under the rules of DecodeIngest. The caller gives each event the
// path's stream (an event that names another is an error) before Validate,
// which would otherwise default an event's stream to its type.
func DecodeStreamAppend(r *http.Request, l Limits) ([]Item, *Problem) {
	return decodeRequest(r, l, streamFormats)
}

// eventLimits are the store's rules for events the decoder has parsed: their
// data and metadata are well-formed JSON already.
func (l Limits) eventLimits() sluice.Limits {
	return sluice.Limits{MaxEventBytes: l.MaxEventBytes, JSONChecked: true}
}

// CheckItems checks, one event at a time, every item that has no Err against
// the envelope's rules (sluice.Limits.Prepare), filling in missing ids and
// streams in place, and sets Err on the items whose event breaks a rule.
func CheckItems(items []Item, l Limits) {
	limits := l.eventLimits()
	for i := range items {
		it := &items[i]
		if it.Err != nil {
			continue
		}
		reqs := []sluice.AppendRequest{{Events: []sluice.Event{it.Event}}}
		if err := limits.Prepare(reqs); err != nil {
			it.Err = eventProblem(i, it.Event.ID, err)
			continue
		}
		it.Event = reqs[0].Events[0]
	}
}

// Validate checks the items' events against the envelope's rules and
// returns the valid ones, in order, with their ids and streams filled in, as
// a request the writer will not check again, and the problems of the
// others, in order. Items are updated in place as by CheckItems. When no
// item has an Err, it first checks all the events as one request, and
// checks them one by one only when that fails.
func Validate(items []Item, l Limits) (valid sluice.AppendRequest, rejected []EventProblem) {
	limits := l.eventLimits()
	if req, ok := prepareAll(items, limits); ok {
		return req, nil
	}
	CheckItems(items, l)
	reqs := []sluice.AppendRequest{{}}
	for _, it := range items {
		if it.Err != nil {
			rejected = append(rejected, *it.Err)
		} else {
			reqs[0].Events = append(reqs[0].Events, it.Event)
		}
	}
	if len(reqs[0].Events) > 0 {
		_ = limits.Prepare(reqs) // each passed alone: this marks the request checked
	}
	return reqs[0], rejected
}

// prepareAll prepares the events of items as one request, and reports
// whether all of them passed; then the items hold the prepared events too.
func prepareAll(items []Item, limits sluice.Limits) (sluice.AppendRequest, bool) {
	if len(items) == 0 {
		return sluice.AppendRequest{}, false
	}
	events := make([]sluice.Event, len(items))
	for i, it := range items {
		if it.Err != nil {
			return sluice.AppendRequest{}, false
		}
		events[i] = it.Event
	}
	reqs := []sluice.AppendRequest{{Events: events}}
	if limits.Prepare(reqs) != nil {
		return sluice.AppendRequest{}, false
	}
	for i := range items {
		items[i].Event = events[i]
	}
	return reqs[0], true
}

// eventProblem turns an error of Prepare into the problem of the item at
// index whose id was sent as id.
func eventProblem(index int, id string, err error) *EventProblem {
	p := &EventProblem{Index: index, ID: id, Message: err.Error()}
	var ee *sluice.EventError
	if errors.As(err, &ee) {
		p.Message = ee.Reason
		if ee.Field != "size" {
			p.Path = "/" + ee.Field
		}
	}
	return p
}

// elementFunc decodes the JSON value at b[i], nested in depth containers,
// into an item, and returns where the value ends. A syntax error is one of
// the body as a whole.
type elementFunc func(b []byte, i, depth int) (Item, int, *syntaxError)

// format is one accepted Content-Type.
type format struct {
	mediaType string
	// lines: one value per line (NDJSON), else one value or an array.
	lines   bool
	element elementFunc
}

var (
	jsonFormats = []format{
		{mediaType: "application/json", element: decodeEnvelope},
		{mediaType: "text/plain", element: decodeEnvelope},
		{mediaType: "application/x-ndjson", lines: true, element: decodeEnvelope},
		{mediaType: "application/ndjson", lines: true, element: decodeEnvelope},
		{mediaType: "application/jsonl", lines: true, element: decodeEnvelope},
	}
	cloudEventFormats = []format{
		{mediaType: "application/cloudevents+json", element: decodeCloudEvent},
		{mediaType: "application/cloudevents-batch+json", element: decodeCloudEvent},
	}
	// ingestFormats are the formats of POST /v1/events.
	ingestFormats = append(jsonFormats[:len(jsonFormats):len(jsonFormats)], cloudEventFormats...)
	// streamFormats are the formats of POST /v1/streams/{stream}/events.
	streamFormats = jsonFormats
)

// decodeRequest reads r's body in one of formats into items.
func decodeRequest(r *http.Request, l Limits, formats []format) ([]Item, *Problem) {
	f, p := chooseFormat(r.Header.Get("Content-Type"), formats)
	if p != nil {
		return nil, p
	}
	body, p := readBody(r, l)
	if p != nil {
		return nil, p
	}
	if f.lines {
		return decodeLines(body, l.MaxEvents, f.element)
	}
	return decodeJSON(body, l.MaxEvents, f.element)
}

// chooseFormat returns the format of Content-Type ct among formats; no
// Content-Type means application/json.
func chooseFormat(ct string, formats []format) (format, *Problem) {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "" {
		mt = "application/json"
	}
	names := make([]string, 0, len(formats))
	for _, f := range formats {
		if f.mediaType == mt {
			return f, nil
		}
		names = append(names, f.mediaType)
	}
	return format{}, problemf(http.StatusUnsupportedMediaType, "unsupported_media_type",
		fmt.Sprintf("Content-Type %q is not accepted here; send %s", ct, strings.Join(names, ", ")))
}

// readBody reads r's body, decompressed, within the limits.
func readBody(r *http.Request, l Limits) ([]byte, *Problem) {
	gzipped, p := contentEncoding(r.Header.Get("Content-Encoding"))
	if p != nil {
		return nil, p
	}
	if r.ContentLength > l.MaxBodyBytes {
		return nil, bodyTooLarge(l.MaxBodyBytes)
	}
	if r.Body == nil {
		return nil, nil
	}
	raw := &countingReader{r: io.LimitReader(r.Body, l.MaxBodyBytes+1)}
	if !gzipped {
		b, err := readAtMost(raw, l.MaxBodyBytes, r.ContentLength)
		return b, readProblem(raw, l, err)
	}
	zr, err := gzip.NewReader(raw)
	if err == io.EOF {
		return nil, nil // an empty body: no gzip header to read
	}
	if err != nil {
		return nil, readProblem(raw, l, err)
	}
	b, err := readAtMost(zr, l.MaxDecompressedBytes, -1)
	if err == errTooLarge {
		return nil, problemf(http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("the body is over %d bytes once decompressed", l.MaxDecompressedBytes))
	}
	return b, readProblem(raw, l, err)
}

// contentEncoding reports whether a Content-Encoding is gzip, or why it is
// not accepted.
func contentEncoding(ce string) (gzipped bool, p *Problem) {
	switch strings.ToLower(strings.TrimSpace(ce)) {
	case "", "identity":
		return false, nil
	case "gzip", "x-gzip":
		return true, nil
	}
	return false, problemf(http.StatusUnsupportedMediaType, "unsupported_encoding",
		fmt.Sprintf("Content-Encoding %q is not supported; send gzip or identity", ce))
}

// readProblem explains err, met while reading through raw (nil: none).
func readProblem(raw *countingReader, l Limits, err error) *Problem {
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case raw.n > l.MaxBodyBytes || errors.As(raw.err, &tooLarge):
		return bodyTooLarge(l.MaxBodyBytes)
	case raw.err != nil:
		return problemf(http.StatusBadRequest, "unreadable_body", "reading the body: "+raw.err.Error())
	}
	return problemf(http.StatusBadRequest, "invalid_gzip", "the body is not valid gzip: "+err.Error())
}

func bodyTooLarge(limit int64) *Problem {
	return problemf(http.StatusRequestEntityTooLarge, "payload_too_large",
		fmt.Sprintf("the body is over %d bytes", limit))
}

// countingReader counts the bytes read from r and keeps r's error.
type countingReader struct {
	r   io.Reader
	n   int64
	err error // r's error other than io.EOF
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// errTooLarge: a reader holds more than readAtMost may read.
var errTooLarge = errors.New("too large")

// maxPresize bounds the buffer readAtMost makes before any byte has come:
// a Content-Length is only a claim. Trusting it (up to the 10 MiB limit),
// 200 clients that announced 10 MiB and sent 1 KiB held 700 MiB of the
// server's memory (reliability harness, bad/half_bodies); beyond this size
// the buffer grows with what actually arrives.
const maxPresize = 256 << 10

// readAtMost reads r to its end, or returns errTooLarge as soon as it finds
// more than limit bytes: it holds at most limit bytes, in a buffer that
// doubles as it fills. size, when not negative, is how many bytes r is
// expected to hold.
func readAtMost(r io.Reader, limit, size int64) ([]byte, error) {
	b := make([]byte, 0, min(max(size+1, 512), limit, maxPresize))
	for {
		if len(b) == cap(b) {
			if int64(len(b)) == limit {
				return b, probeEnd(r)
			}
			grown := make([]byte, len(b), min(2*int64(cap(b)), limit))
			copy(grown, b)
			b = grown
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			return b, nil
		case err != nil:
			return nil, err
		}
	}
}

// probeEnd reads one byte more from r: errTooLarge if there is one, nil at
// r's end.
func probeEnd(r io.Reader) error {
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		switch {
		case n > 0:
			return errTooLarge
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// decodeJSON decodes a body that is one JSON value or an array of them.
func decodeJSON(b []byte, maxEvents int, element elementFunc) ([]Item, *Problem) {
	i := skipSpace(b, 0)
	if i == len(b) {
		return nil, emptyBody()
	}
	if b[i] != '[' {
		it, end, err := element(b, i, 0)
		if err == nil {
			err = endOfBody(b, end)
		}
		if err != nil {
			return nil, malformed(err)
		}
		return place(nil, it), nil
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		if err := endOfBody(b, i+1); err != nil {
			return nil, malformed(err)
		}
		return nil, problemf(http.StatusBadRequest, "no_events", "the body is an empty array")
	}
	var items []Item
	for {
		if len(items) == maxEvents {
			return nil, tooManyEvents(maxEvents)
		}
		if i == len(b) {
			return nil, malformed(unexpectedEnd(b))
		}
		it, end, err := element(b, i, 1)
		if err != nil {
			return nil, malformed(err)
		}
		items = place(presize(items, len(b), end-i, maxEvents), it)
		if i, err = nextElement(b, end); err != nil {
			return nil, malformed(err)
		}
		if i < 0 {
			return items, nil
		}
	}
}

// nextElement reads what follows an element of the top-level array, which
// ended at i: the offset of the next element, or -1 after the array's end.
func nextElement(b []byte, i int) (int, *syntaxError) {
	i = skipSpace(b, i)
	switch {
	case i == len(b):
		return 0, unexpectedEnd(b)
	case b[i] == ',':
		return skipSpace(b, i+1), nil
	case b[i] == ']':
		return -1, endOfBody(b, i+1)
	}
	return 0, invalidChar(b, i, "after an array element; expected ',' or ']'")
}

// endOfBody checks that only whitespace follows the top-level value, which
// ended at i.
func endOfBody(b []byte, i int) *syntaxError {
	if i = skipSpace(b, i); i < len(b) {
		return invalidChar(b, i, "after the top-level value")
	}
	return nil
}

// decodeLines decodes an NDJSON body: one value per non-empty line, where a
// malformed line is its item's Err.
func decodeLines(b []byte, maxEvents int, element elementFunc) ([]Item, *Problem) {
	var items []Item
	for start, line := 0, 1; start < len(b); line++ {
		end := len(b)
		if n := bytes.IndexByte(b[start:], '\n'); n >= 0 {
			end = start + n
		}
		i := skipSpace(b[:end], start)
		if i < end {
			if len(items) == maxEvents {
				return nil, tooManyEvents(maxEvents)
			}
			items = place(presize(items, len(b), end-i, maxEvents), decodeLine(b[:end], i, line, element))
		}
		start = end + 1
	}
	if len(items) == 0 {
		return nil, emptyBody()
	}
	return items, nil
}

// decodeLine decodes the line b[i:] of an NDJSON body.
func decodeLine(b []byte, i, line int, element elementFunc) Item {
	it, end, err := element(b, i, 0)
	if err == nil {
		err = endOfBody(b, end)
	}
	if err != nil {
		return Item{Err: &EventProblem{Message: fmt.Sprintf("line %d is not valid JSON: %s", line, err)}}
	}
	return it
}

// presize makes items, when nil, with room for the elements of a body of
// n bytes if all were as long as the first, size bytes, within maxEvents.
func presize(items []Item, n, size, maxEvents int) []Item {
	if items != nil {
		return items
	}
	return make([]Item, 0, min(maxEvents, n/max(size, 1)+1))
}

// place appends it to items, giving its problem its index and id.
func place(items []Item, it Item) []Item {
	if it.Err != nil {
		it.Err.Index = len(items)
		it.Err.ID = it.Event.ID
	}
	return append(items, it)
}

func emptyBody() *Problem {
	return problemf(http.StatusBadRequest, "empty_body", "the request body is empty")
}

func tooManyEvents(limit int) *Problem {
	return problemf(http.StatusRequestEntityTooLarge, "too_many_events",
		fmt.Sprintf("the body holds more than %d events", limit))
}

func malformed(err *syntaxError) *Problem {
	return problemf(http.StatusBadRequest, "malformed_json", "the body is not valid JSON: "+err.Error())
}

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
func (m *members) text(b []byte, v, depth int, path string, field int) (int, *syntaxError) {
	var err *syntaxError
	m.texts[field], v, err = m.str(b, v, depth, path)
	return v, err
}

// str reads the value at b[v], which must be a string, and returns its
// text; null is nil.
func (m *members) str(b []byte, v, depth int, path string) ([]byte, int, *syntaxError) {
	switch b[v] {
	case '"':
		end, plain, err := scanString(b, v)
		if err != nil {
			return nil, end, err
		}
		return unquote(b[v:end], plain), end, nil
	case 'n':
		end, err := literal(b, v, "null")
		return nil, end, err
	}
	m.fail(path, "must be a string, not "+kindOf(b[v]))
	end, err := skipValue(b, v, depth)
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
func (m *members) object(b []byte, v, depth int, path string, dst *json.RawMessage) (int, *syntaxError) {
	switch b[v] {
	case '{':
		end, err := skipValue(b, v, depth)
		*dst = b[v:end:end]
		return end, err
	case 'n':
		return literal(b, v, "null")
	}
	m.fail(path, "must be a JSON object, not "+kindOf(b[v]))
	return skipValue(b, v, depth)
}

// decodeEnvelope decodes a native envelope: id, type, stream, source and
// time (strings; null is as if absent), data (any JSON value, required),
// and metadata (an object). Any other member is an error.
func decodeEnvelope(b []byte, i, depth int) (Item, int, *syntaxError) {
	if b[i] != '{' {
		end, err := skipValue(b, i, depth)
		return Item{Err: &EventProblem{Message: "an event must be a JSON object"}}, end, err
	}
	var (
		m    members
		buf  [8][]byte
		seen = buf[:0]
	)
	o := objectReader{b: b, i: i, depth: depth}
	for {
		key, _, ok, err := o.next()
		if err != nil {
			return Item{}, o.i, err
		}
		if !ok {
			break
		}
		seen = m.see(seen, key)
		v, d := o.i, depth+1
		switch string(key) {
		case "id":
			o.i, err = m.text(b, v, d, "/id", textID)
		case "type":
			o.i, err = m.text(b, v, d, "/type", textType)
		case "stream":
			o.i, err = m.text(b, v, d, "/stream", textStream)
		case "source":
			o.i, err = m.text(b, v, d, "/source", textSource)
		case "time":
			o.i, err = m.text(b, v, d, "/time", textTime)
		case "data":
			o.i, err = skipValue(b, v, d)
			m.ev.Data = b[v:o.i:o.i]
		case "metadata":
			o.i, err = m.object(b, v, d, "/metadata", &m.ev.Metadata)
		default:
			m.fail(pointer(key), "unknown field; an event has id, type, stream, source, time, data and metadata")
			o.i, err = skipValue(b, v, d)
		}
		if err != nil {
			return Item{}, o.i, err
		}
	}
	m.setTexts()
	m.require(textType, "/type")
	if m.ev.Data == nil {
		m.fail("/data", "is required")
	}
	return m.item(), o.i, nil
}

// decodeCloudEvent decodes a CloudEvent in the JSON format (CloudEvents 1.0,
// structured mode). specversion must be "1.0"; id, source and type are
// required. They and time map to the event's fields; the extension attribute
// stream is the event's stream. data is kept as is; data_base64 becomes data
// as the JSON string of the base64 text, as sent; without either, data is
// null. Every other attribute (subject, dataschema, datacontenttype,
// extensions) is a member of the event's metadata, name and value as sent.
// As in a native envelope, null is as if absent.
func decodeCloudEvent(b []byte, i, depth int) (Item, int, *syntaxError) {
	if b[i] != '{' {
		end, err := skipValue(b, i, depth)
		return Item{Err: &EventProblem{Message: "a CloudEvent must be a JSON object"}}, end, err
	}
	var (
		m                  members
		buf                [16][]byte
		seen               = buf[:0]
		version            []byte
		hasData, hasBase64 bool
		meta               []byte
	)
	o := objectReader{b: b, i: i, depth: depth}
	for {
		key, rawKey, ok, err := o.next()
		if err != nil {
			return Item{}, o.i, err
		}
		if !ok {
			break
		}
		seen = m.see(seen, key)
		v, d := o.i, depth+1
		switch string(key) {
		case "specversion":
			version, o.i, err = m.str(b, v, d, "/specversion")
		case "id":
			o.i, err = m.text(b, v, d, "/id", textID)
		case "source":
			o.i, err = m.text(b, v, d, "/source", textSource)
		case "type":
			o.i, err = m.text(b, v, d, "/type", textType)
		case "time":
			o.i, err = m.text(b, v, d, "/time", textTime)
		case "stream":
			o.i, err = m.text(b, v, d, "/stream", textStream)
		case "data":
			o.i, err = skipValue(b, v, d)
			m.ev.Data, hasData = b[v:o.i:o.i], true
		case "data_base64":
			o.i, err = m.dataBase64(b, v, d)
			hasBase64 = b[v] == '"'
		default:
			o.i, err = skipValue(b, v, d)
			meta = appendMember(meta, rawKey, b[v:o.i])
		}
		if err != nil {
			return Item{}, o.i, err
		}
	}
	m.setTexts()
	m.checkCloudEvent(version, hasData && hasBase64)
	if meta != nil {
		m.ev.Metadata = append(meta, '}')
	}
	return m.item(), o.i, nil
}

// dataBase64 reads data_base64 at b[v], a string of base64 text, into the
// event's data as the JSON string sent.
func (m *members) dataBase64(b []byte, v, depth int) (int, *syntaxError) {
	text, end, err := m.str(b, v, depth, "/data_base64")
	if err != nil || b[v] != '"' {
		return end, err
	}
	if _, err := base64.StdEncoding.AppendDecode(nil, text); err != nil {
		m.fail("/data_base64", "is not valid base64: "+err.Error())
	}
	m.ev.Data = b[v:end:end]
	return end, nil
}

// checkCloudEvent checks the attributes once all are read, and gives the
// event null data when it has none.
func (m *members) checkCloudEvent(version []byte, bothData bool) {
	switch string(version) {
	case "1.0":
	case "":
		m.fail("/specversion", "is required")
	default:
		m.fail("/specversion", fmt.Sprintf("is %q; only \"1.0\" is supported", version))
	}
	m.require(textID, "/id")
	m.require(textSource, "/source")
	m.require(textType, "/type")
	if bothData {
		m.fail("/data_base64", "must not be given with data")
	}
	if m.ev.Data == nil {
		m.ev.Data = json.RawMessage("null")
	}
}

// appendMember appends the member rawKey: value to the JSON object being
// built in obj (nil: none yet), which the caller closes.
func appendMember(obj, rawKey, value []byte) []byte {
	if obj == nil {
		obj = append(obj, '{')
	} else {
		obj = append(obj, ',')
	}
	obj = append(obj, rawKey...)
	obj = append(obj, ':')
	return append(obj, value...)
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

// unquote returns the text of the JSON string token tok as encoding/json
// would read it (invalid UTF-8 becomes U+FFFD): a slice of tok when it can.
func unquote(tok []byte, plain bool) []byte {
	s := tok[1 : len(tok)-1]
	if plain || bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
		return s
	}
	var text string
	_ = json.Unmarshal(tok, &text) // tok is a valid string token: no error
	return []byte(text)
}

// objectReader reads the members of the object at b[i], nested in depth
// containers. After next returns a member, i is the offset of its value, and
// the caller moves i past the value.
type objectReader struct {
	b     []byte
	i     int
	depth int
	n     int // members read
}

// next reads up to the next member's value and returns the member's name,
// unquoted and as the token sent; ok is false at the object's end, after
// which i is the offset after it.
func (o *objectReader) next() (key, rawKey []byte, ok bool, err *syntaxError) {
	b, i := o.b, o.i
	if o.n == 0 {
		if o.depth >= maxDepth {
			return nil, nil, false, tooDeep(i)
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			o.i = i + 1
			return nil, nil, false, nil
		}
	} else {
		i = skipSpace(b, i)
		switch {
		case i == len(b):
			return nil, nil, false, unexpectedEnd(b)
		case b[i] == '}':
			o.i = i + 1
			return nil, nil, false, nil
		case b[i] != ',':
			return nil, nil, false, invalidChar(b, i, "after an object member; expected ',' or '}'")
		}
		i = skipSpace(b, i+1)
	}
	end, v, plain, err := memberName(b, i)
	if err != nil {
		return nil, nil, false, err
	}
	o.i, o.n = v, o.n+1
	rawKey = b[i:end]
	return unquote(rawKey, plain), rawKey, true, nil
}

// memberName reads a member's name at b[i] and the ':' after it. It
// returns where the name ends, where the value starts, and whether the name
// is plain (see scanString).
func memberName(b []byte, i int) (end, v int, plain bool, err *syntaxError) {
	if i == len(b) {
		return i, i, false, unexpectedEnd(b)
	}
	if b[i] != '"' {
		return i, i, false, invalidChar(b, i, "looking for the beginning of an object member's name")
	}
	if end, plain, err = scanString(b, i); err != nil {
		return end, end, false, err
	}
	v = skipSpace(b, end)
	if v == len(b) {
		return end, v, false, unexpectedEnd(b)
	}
	if b[v] != ':' {
		return end, v, false, invalidChar(b, v, "after an object member's name; expected ':'")
	}
	if v = skipSpace(b, v+1); v == len(b) {
		return end, v, false, unexpectedEnd(b)
	}
	return end, v, plain, nil
}

// maxDepth is the deepest nesting of arrays and objects accepted, as in
// encoding/json.
const maxDepth = 10000

// syntaxError says why a body is not JSON and where.
type syntaxError struct {
	Offset int
	Msg    string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("%s at byte offset %d", e.Msg, e.Offset)
}

func unexpectedEnd(b []byte) *syntaxError {
	return &syntaxError{Offset: len(b), Msg: "unexpected end of JSON input"}
}

func tooDeep(i int) *syntaxError {
	return &syntaxError{Offset: i, Msg: fmt.Sprintf("nesting deeper than %d", maxDepth)}
}

// invalidChar reports the byte at b[i], which was not expected where.
func invalidChar(b []byte, i int, where string) *syntaxError {
	c := fmt.Sprintf("%q", b[i])
	if b[i] >= 0x80 {
		c = fmt.Sprintf("byte 0x%02x", b[i])
	}
	return &syntaxError{Offset: i, Msg: "invalid character " + c + " " + where}
}

// skipSpace returns the offset of the first byte from i on that is not JSON
// whitespace.
func skipSpace(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue reads the JSON value at b[i], nested in depth containers, and
// returns the offset after it.
func skipValue(b []byte, i, depth int) (int, *syntaxError) {
	var stackBuf [32]byte
	stack := stackBuf[:0] // the closing byte of each open container
	var err *syntaxError
	for {
		// A value starts at i.
		if i = skipSpace(b, i); i == len(b) {
			return i, unexpectedEnd(b)
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth+len(stack) >= maxDepth {
				return i, tooDeep(i)
			}
			closer := c + 2 // '}' or ']'
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == closer {
				i++
				break
			}
			stack = append(stack, closer)
			if c == '{' {
				if _, i, _, err = memberName(b, i); err != nil {
					return i, err
				}
			}
			continue
		case '"':
			i, _, err = scanString(b, i)
		case 't':
			i, err = literal(b, i, "true")
		case 'f':
			i, err = literal(b, i, "false")
		case 'n':
			i, err = literal(b, i, "null")
		default:
			i, err = number(b, i)
		}
		if err != nil {
			return i, err
		}
		// A value ended at i: close containers, or go on to the next value.
		if i, stack, err = afterValue(b, i, stack); err != nil || len(stack) == 0 {
			return i, err
		}
	}
}

// afterValue reads what follows a value that ended at i inside the open
// containers of stack: the closing of containers, then a ',' and, in an
// object, the next member's name. It returns where the next value starts
// and the containers still open; with none open, the offset after the last.
func afterValue(b []byte, i int, stack []byte) (int, []byte, *syntaxError) {
	for len(stack) > 0 {
		if i = skipSpace(b, i); i == len(b) {
			return i, stack, unexpectedEnd(b)
		}
		closer := stack[len(stack)-1]
		switch b[i] {
		case closer:
			stack = stack[:len(stack)-1]
			i++
		case ',':
			i = skipSpace(b, i+1)
			if closer == '}' {
				var err *syntaxError
				_, i, _, err = memberName(b, i)
				return i, stack, err
			}
			return i, stack, nil
		default:
			if closer == '}' {
				return i, stack, invalidChar(b, i, "after an object member; expected ',' or '}'")
			}
			return i, stack, invalidChar(b, i, "after an array element; expected ',' or ']'")
		}
	}
	return i, stack, nil
}

// stringByte marks the bytes that stand for themselves in a JSON string:
// all but control characters, '"' and '\\'.
var stringByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Bytes repeated in a word, for scanning strings eight bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special reports whether one of the eight bytes of w is a '"', a '\\' or a
// control character: the bytes that end a string's plain run.
func special(w uint64) bool {
	quote, backslash := w^(ones*'"'), w^(ones*'\\')
	zeroQuote := (quote - ones) &^ quote
	zeroBackslash := (backslash - ones) &^ backslash
	control := (w - ones*0x20) &^ w
	return (zeroQuote|zeroBackslash|control)&highs != 0
}

// scanString reads the JSON string at b[i] (a '"') and returns the offset
// after it, and whether it is plain: ASCII without escapes, its text the
// bytes between the quotes.
func scanString(b []byte, i int) (end int, plain bool, err *syntaxError) {
	var high uint64 // the bytes of the string ORed, to tell ASCII
	escaped := false
	start := i + 1
	for i++; ; i++ {
		for ; i+8 <= len(b); i += 8 {
			w := binary.LittleEndian.Uint64(b[i:])
			if special(w) {
				break
			}
			high |= w
		}
		for i < len(b) && stringByte[b[i]] {
			high |= uint64(b[i])
			i++
		}
		if i == len(b) {
			return i, false, unexpectedEnd(b)
		}
		switch b[i] {
		case '"':
			if high&highs != 0 {
				if bad := invalidUTF8(b[start:i]); bad >= 0 {
					return start + bad, false, &syntaxError{Offset: start + bad, Msg: "invalid UTF-8 in a string"}
				}
			}
			return i + 1, !escaped && high&highs == 0, nil
		case '\\':
			escaped = true
			if i, err = escape(b, i); err != nil {
				return i, false, err
			}
		default:
			return i, false, invalidChar(b, i, "in a string (control characters must be escaped)")
		}
	}
}

// invalidUTF8 returns the offset of the first byte of s that is not valid
// UTF-8, or -1. JSON text is UTF-8 (RFC 8259, section 8.1): a body with
// other bytes in a string is malformed, rather than stored with bytes that
// no reader can decode (encoding/json alone would let them through).
func invalidUTF8(s []byte) int {
	if utf8.Valid(s) {
		return -1
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// escape checks the escape sequence at b[i] (a '\\') and returns the offset
// of its last byte.
func escape(b []byte, i int) (int, *syntaxError) {
	i++
	if i == len(b) {
		return i, unexpectedEnd(b)
	}
	switch b[i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i, nil
	case 'u':
		for k := 0; k < 4; k++ {
			if i++; i == len(b) {
				return i, unexpectedEnd(b)
			}
			if !isHex(b[i]) {
				return i, invalidChar(b, i, "in a \\u escape")
			}
		}
		return i, nil
	}
	return i, invalidChar(b, i, "in an escape sequence")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// literal reads lit (true, false or null) at b[i].
func literal(b []byte, i int, lit string) (int, *syntaxError) {
	for k := 0; k < len(lit); k, i = k+1, i+1 {
		if i == len(b) {
			return i, unexpectedEnd(b)
		}
		if b[i] != lit[k] {
			return i, invalidChar(b, i, "in literal "+lit)
		}
	}
	return i, nil
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func number(b []byte, i int) (int, *syntaxError) {
	if b[i] == '-' {
		if i++; i == len(b) {
			return i, unexpectedEnd(b)
		}
		if !isDigit(b[i]) {
			return i, invalidChar(b, i, "in a number")
		}
	}
	switch {
	case b[i] == '0':
		i++
	case isDigit(b[i]):
		i = digits(b, i)
	default:
		return i, invalidChar(b, i, "looking for the beginning of a value")
	}
	var err *syntaxError
	if i < len(b) && b[i] == '.' {
		if i, err = digitsAfter(b, i+1); err != nil {
			return i, err
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i, err = digitsAfter(b, i); err != nil {
			return i, err
		}
	}
	return i, nil
}

// digitsAfter reads the digits of a number's fraction or exponent, at
// least one, at b[i].
func digitsAfter(b []byte, i int) (int, *syntaxError) {
	switch {
	case i == len(b):
		return i, unexpectedEnd(b)
	case !isDigit(b[i]):
		return i, invalidChar(b, i, "in a number")
	}
	return digits(b, i), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}
