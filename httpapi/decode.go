package httpapi

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/jsonscan"
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
// A request with a ce-specversion header is a CloudEvent in the HTTP binary
// content mode, whatever its Content-Type: see decodeBinary.
//
// Content-Encoding gzip is decompressed. The body as sent is bounded by
// l.MaxBodyBytes, once decompressed by l.MaxDecompressedBytes, and may hold at
// most l.MaxEvents elements. Data and Metadata share the body's memory.
func DecodeIngest(r *http.Request, l Limits) ([]Item, *Problem) {
	if binaryMode(r) {
		return decodeBinary(r, l)
	}
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

// elementFunc decodes the JSON value at b[i], nested in depth containers,
// into an item, and returns where the value ends. A syntax error is one of
// the body as a whole.
type elementFunc func(b []byte, i, depth int) (Item, int, *jsonscan.SyntaxError)

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
	i := jsonscan.SkipSpace(b, 0)
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
	i = jsonscan.SkipSpace(b, i+1)
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
			return nil, malformed(jsonscan.UnexpectedEnd(b))
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
func nextElement(b []byte, i int) (int, *jsonscan.SyntaxError) {
	i = jsonscan.SkipSpace(b, i)
	switch {
	case i == len(b):
		return 0, jsonscan.UnexpectedEnd(b)
	case b[i] == ',':
		return jsonscan.SkipSpace(b, i+1), nil
	case b[i] == ']':
		return -1, endOfBody(b, i+1)
	}
	return 0, jsonscan.InvalidChar(b, i, "after an array element; expected ',' or ']'")
}

// endOfBody checks that only whitespace follows the top-level value, which
// ended at i.
func endOfBody(b []byte, i int) *jsonscan.SyntaxError {
	if i = jsonscan.SkipSpace(b, i); i < len(b) {
		return jsonscan.InvalidChar(b, i, "after the top-level value")
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
		i := jsonscan.SkipSpace(b[:end], start)
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

func malformed(err *jsonscan.SyntaxError) *Problem {
	return problemf(http.StatusBadRequest, "malformed_json", "the body is not valid JSON: "+err.Error())
}

// DecodeLine decodes one line of an NDJSON file (without its newline): a
// stored event as GET /v1/events and sluice export write it (an envelope,
// with position, version and recorded_at read into the event), or, with
// cloudEvents, a CloudEvent in the JSON format. A line that is not valid
// JSON or not such an event is an error saying why. The event's strings
// are copies; Data and Metadata are slices of line.
func DecodeLine(line []byte, cloudEvents bool) (sluice.Event, error) {
	element := decodeStored
	if cloudEvents {
		element = decodeCloudEvent
	}
	i := jsonscan.SkipSpace(line, 0)
	if i == len(line) {
		return sluice.Event{}, errors.New("the line is empty")
	}
	it, end, err := element(line, i, 0)
	if err == nil {
		err = endOfBody(line, end)
	}
	switch {
	case err != nil:
		return sluice.Event{}, fmt.Errorf("not valid JSON: %w", err)
	case it.Err != nil && it.Err.Path != "":
		return it.Event, fmt.Errorf("%s %s", it.Err.Path, it.Err.Message)
	case it.Err != nil:
		return it.Event, errors.New(it.Err.Message)
	}
	return it.Event, nil
}
