package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// IngestOption changes how Ingest stores events.
type IngestOption func(*ingestOptions)

type ingestOptions struct{ async, atomic bool }

// Async makes Ingest return once the server has checked and queued the
// events (202), before they are committed: faster, but an event may be
// lost if the server dies first, and IngestResult.Position is 0.
func Async() IngestOption {
	return func(o *ingestOptions) { o.async = true }
}

// Atomic makes one invalid event reject the whole request: Ingest returns
// an *Error (invalid_events) listing the problems and stores nothing.
func Atomic() IngestOption {
	return func(o *ingestOptions) { o.atomic = true }
}

// IngestResult is what became of an Ingest call's events.
type IngestResult struct {
	// Accepted counts the events stored (or, with Async, queued).
	Accepted int
	// Duplicates counts the events whose id was in the log already: they
	// were not stored again.
	Duplicates int
	// Rejected lists the invalid events, which were not stored, in request
	// order.
	Rejected []Rejection
	// Quarantined counts the rejected events the server kept in its
	// quarantine (to replay once fixed).
	Quarantined int
	// Position is the highest position written (0 with Async): wait for it
	// to read your writes.
	Position sluice.Position
}

// Rejection is an event that was not stored, with why.
type Rejection struct {
	// Index is the event's place in the request, from 0.
	Index int
	// ID is the event's id as sent, if any.
	ID string
	// Errors are its problems, one per rule it breaks.
	Errors []FieldError
}

// Ingest sends events to the log (POST /v1/events). By default it returns
// once they are committed. Invalid events are listed in the result's
// Rejected and the valid ones stored; when none is valid (with Atomic:
// when any is invalid) it returns an *Error with code invalid_events,
// whose Rejections say why. An event without an ID gets one (UUIDv7); one whose ID is in
// the log already is counted as a duplicate and not stored twice, so a
// retried Ingest with ids set is safe.
func (c *Client) Ingest(ctx context.Context, events []sluice.Event, opts ...IngestOption) (IngestResult, error) {
	body, err := encodeEvents(events)
	if err != nil {
		return IngestResult{}, err
	}
	var o ingestOptions
	for _, opt := range opts {
		opt(&o)
	}
	q := url.Values{}
	if o.async {
		q.Set("ack", "async")
	}
	if o.atomic {
		q.Set("atomic", "true")
	}
	var answer struct {
		Accepted    int             `json:"accepted"`
		Duplicates  int             `json:"duplicates"`
		Rejected    []FieldError    `json:"rejected"`
		Quarantined int             `json:"quarantined"`
		Position    sluice.Position `json:"position"`
	}
	_, err = c.do(ctx, call{method: http.MethodPost, path: "/v1/events", query: q, body: body, ok: []int{http.StatusOK, http.StatusAccepted}}, &answer)
	if err != nil {
		return IngestResult{}, err
	}
	return IngestResult{
		Accepted:    answer.Accepted,
		Duplicates:  answer.Duplicates,
		Rejected:    groupRejections(answer.Rejected),
		Quarantined: answer.Quarantined,
		Position:    answer.Position,
	}, nil
}

// groupRejections turns the server's problems, one per broken rule and in
// event order, into one Rejection per event.
func groupRejections(problems []FieldError) []Rejection {
	var rs []Rejection
	for _, p := range problems {
		if n := len(rs); n > 0 && rs[n-1].Index == p.Index {
			rs[n-1].Errors = append(rs[n-1].Errors, p)
			continue
		}
		rs = append(rs, Rejection{Index: p.Index, ID: p.ID, Errors: []FieldError{p}})
	}
	return rs
}

// AppendResult is where an Append's events went.
type AppendResult struct {
	// Position is the highest position written: wait for it to read your
	// writes.
	Position sluice.Position
	// Version is the stream's version after the append: the expected
	// version of the next one.
	Version uint64
	// Duplicates counts the events whose id was in the log already (a
	// retried append): they were not stored again.
	Duplicates int
}

// Append adds events to one stream, all or none, if the stream's version
// meets expected (POST /v1/streams/{stream}/events). Each event's Stream
// must be empty or stream. When the version does not meet expected it
// returns an error for which errors.Is(err, sluice.ErrWrongExpectedVersion)
// holds and errors.As finds a *sluice.WrongExpectedVersionError with the
// current version. A retried append whose events carry the same ids is a
// success without effect.
func (c *Client) Append(ctx context.Context, stream string, expected sluice.ExpectedVersion, events ...sluice.Event) (AppendResult, error) {
	escaped, err := escape("stream", stream)
	if err != nil {
		return AppendResult{}, err
	}
	body, err := encodeEvents(events)
	if err != nil {
		return AppendResult{}, err
	}
	var answer struct {
		Position   sluice.Position `json:"position"`
		Version    uint64          `json:"version"`
		Duplicates int             `json:"duplicates"`
	}
	_, err = c.do(ctx, call{
		method: http.MethodPost,
		path:   "/v1/streams/" + escaped + "/events",
		query:  url.Values{"expected_version": {expected.String()}},
		body:   body,
		ok:     []int{http.StatusCreated, http.StatusOK},
	}, &answer)
	if e := (*Error)(nil); errors.As(err, &e) && e.Code == "wrong_expected_version" {
		e.wrapped = &sluice.WrongExpectedVersionError{Stream: stream, Expected: expected, Current: e.CurrentVersion}
	}
	if err != nil {
		return AppendResult{}, err
	}
	return AppendResult(answer), nil
}

// StreamPage is one page of a stream.
type StreamPage struct {
	// Events in the order read.
	Events []sluice.Event
	// Next reads the following page; nil when a backward read has reached
	// the stream's first event. A forward read always has a Next, since
	// the stream may grow: a page with fewer events than asked for is its
	// end for now.
	Next *sluice.ReadStreamOptions
}

// ReadStream reads one stream (GET /v1/streams/{stream}/events): from
// opts.FromVersion (0: the first event, or the last when Backward), at
// most opts.Limit events (0: the server's default, 100). A stream without
// events is an error for which errors.Is(err, sluice.ErrStreamNotFound)
// holds.
func (c *Client) ReadStream(ctx context.Context, stream string, opts sluice.ReadStreamOptions) (StreamPage, error) {
	q := url.Values{}
	if opts.FromVersion > 0 {
		q.Set("from_version", strconv.FormatUint(opts.FromVersion, 10))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Backward {
		q.Set("direction", "backward")
	}
	escaped, err := escape("stream", stream)
	if err != nil {
		return StreamPage{}, err
	}
	var answer struct {
		Events []sluice.Event `json:"events"`
		Next   *string        `json:"next"`
	}
	path := "/v1/streams/" + escaped + "/events"
	if _, err := c.do(ctx, call{method: http.MethodGet, path: path, query: q, ok: []int{http.StatusOK}}, &answer); err != nil {
		return StreamPage{}, err
	}
	page := StreamPage{Events: answer.Events}
	if answer.Next != nil {
		next, err := nextStreamOptions(*answer.Next, opts)
		if err != nil {
			return StreamPage{}, err
		}
		page.Next = &next
	}
	return page, nil
}

// nextStreamOptions reads the options of the server's next-page URL.
func nextStreamOptions(next string, prev sluice.ReadStreamOptions) (sluice.ReadStreamOptions, error) {
	q, err := queryOf(next)
	if err != nil {
		return prev, err
	}
	opts := sluice.ReadStreamOptions{Limit: prev.Limit, Backward: q.Get("direction") == "backward"}
	if v := q.Get("from_version"); v != "" {
		if opts.FromVersion, err = strconv.ParseUint(v, 10, 64); err != nil {
			return prev, fmt.Errorf("sluice client: the server's next page has a bad from_version: %s", next)
		}
	}
	if v := q.Get("limit"); v != "" {
		opts.Limit, _ = strconv.Atoi(v)
	}
	return opts, nil
}

// queryOf returns the query of a next-page URL ("/v1/streams?after=x").
func queryOf(next string) (url.Values, error) {
	u, err := url.Parse(next)
	if err != nil {
		return nil, fmt.Errorf("sluice client: the server's next page is not a URL: %s", next)
	}
	return u.Query(), nil
}

// LogPage is one page of the log.
type LogPage struct {
	// Events in position order.
	Events []sluice.Event
	// NextAfter is where the next page starts: the last event's position,
	// or the position read after when there were none.
	NextAfter sluice.Position
}

// ReadLog reads the log (GET /v1/events): at most limit events (0: the
// server's default, 100) after position after that f keeps, in position
// order.
func (c *Client) ReadLog(ctx context.Context, after sluice.Position, f sluice.Filter, limit int) (LogPage, error) {
	q := filterQuery(f)
	if after > 0 {
		q.Set("after", strconv.FormatUint(uint64(after), 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var answer struct {
		Events    []sluice.Event  `json:"events"`
		NextAfter sluice.Position `json:"next_after"`
	}
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/events", query: q, ok: []int{http.StatusOK}}, &answer); err != nil {
		return LogPage{}, err
	}
	return LogPage(answer), nil
}

func filterQuery(f sluice.Filter) url.Values {
	q := url.Values{}
	if len(f.Types) > 0 {
		q.Set("type", strings.Join(f.Types, ","))
	}
	if f.StreamPrefix != "" {
		q.Set("stream_prefix", f.StreamPrefix)
	}
	if f.Category != "" {
		q.Set("category", f.Category)
	}
	return q
}

// StreamList is one page of stream names.
type StreamList struct {
	// Streams in name order.
	Streams []sluice.StreamInfo
	// NextAfter is the after of the next page; "" when this is the last.
	NextAfter string
}

// ListStreams lists the streams whose names start with prefix and sort
// after the name after, in name order, at most limit (0: the server's
// default, 100) at a time (GET /v1/streams).
func (c *Client) ListStreams(ctx context.Context, prefix, after string, limit int) (StreamList, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var answer struct {
		Streams []sluice.StreamInfo `json:"streams"`
		Next    *string             `json:"next"`
	}
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/streams", query: q, ok: []int{http.StatusOK}}, &answer); err != nil {
		return StreamList{}, err
	}
	list := StreamList{Streams: answer.Streams}
	if answer.Next != nil {
		nq, err := queryOf(*answer.Next)
		if err != nil {
			return StreamList{}, err
		}
		list.NextAfter = nq.Get("after")
	}
	return list, nil
}

// encodeEvents writes events as the JSON array of envelopes the server
// reads: only the fields a client sets (id, type, stream, source, time,
// data, metadata; empty ones left out), data and metadata byte for byte.
// Data is required: to send JSON null, set it to json.RawMessage("null").
// Position, Version and RecordedAt are the store's and are not sent.
func encodeEvents(events []sluice.Event) ([]byte, error) {
	size := 2
	for i := range events {
		size += events[i].Size() + 80
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i := range events {
		e := &events[i]
		if len(e.Data) > 0 && !json.Valid(e.Data) {
			return nil, &sluice.EventError{Index: i, ID: e.ID, Field: "data", Reason: "is not valid JSON"}
		}
		if len(e.Metadata) > 0 && !json.Valid(e.Metadata) {
			return nil, &sluice.EventError{Index: i, ID: e.ID, Field: "metadata", Reason: "is not valid JSON"}
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendString(b, "type", e.Type, true)
		b = appendString(b, "id", e.ID, false)
		b = appendString(b, "stream", e.Stream, false)
		b = appendString(b, "source", e.Source, false)
		b = appendString(b, "time", e.Time, false)
		if len(e.Data) > 0 { // none: the server answers that data is required
			b = append(b, `,"data":`...)
			b = append(b, e.Data...)
		}
		if len(e.Metadata) > 0 {
			b = append(b, `,"metadata":`...)
			b = append(b, e.Metadata...)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}

// appendString appends the member "name": value, after a comma unless
// first; an empty value is left out unless first.
func appendString(b []byte, name, value string, first bool) []byte {
	if value == "" && !first {
		return b
	}
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	s, _ := json.Marshal(value) // a string always encodes
	return append(b, s...)
}
