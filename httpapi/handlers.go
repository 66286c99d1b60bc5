package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ingestAnswer is the answer of POST /v1/events.
type ingestAnswer struct {
	Accepted   int            `json:"accepted"`
	Duplicates int            `json:"duplicates"`
	Rejected   []EventProblem `json:"rejected"`
	// Quarantined counts the rejected events kept in the quarantine.
	Quarantined int             `json:"quarantined"`
	Position    sluice.Position `json:"position,omitempty"`
}

// ingest is POST /v1/events.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	async := false
	switch q.Get("ack") {
	case "", "durable":
	case "async":
		async = true
	default:
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_parameter", `ack must be "durable" or "async"`))
		return
	}
	atomic, p := boolParam(q, "atomic")
	if p != nil {
		writeProblem(w, p)
		return
	}
	r, items, release, ok := s.start(w, r, s.decodeWith(DecodeIngest))
	if !ok {
		return
	}
	defer release()
	answer, p := s.commit(r, items, async, atomic)
	switch {
	case p != nil:
		writeProblem(w, p)
	case async:
		s.answer(w, r, http.StatusAccepted, answer.appendJSON)
	default:
		s.answer(w, r, http.StatusOK, answer.appendJSON)
	}
}

// commit checks the items' events, keeps in the quarantine what the policy
// says, and stores the valid ones: with async, once they are queued;
// otherwise once they are committed. A request with no valid event, or
// with any invalid under atomic, is answered 400 invalid_events and
// nothing of it is stored.
func (s *Server) commit(r *http.Request, items []Item, async, atomic bool) (ingestAnswer, *Problem) {
	valid, rejected, quarantine := s.check(r, items, async || s.cfg.Schemas.QuarantineDurable)
	if atomic {
		quarantine = nil // all or nothing, and the sender reads why
	}
	invalid := len(items) - len(valid.Events)
	s.metrics.events.WithLabelValues("rejected").Add(float64(invalid))
	if len(quarantine) > 0 {
		if err := s.quarantine(r.Context(), quarantine); err != nil {
			return ingestAnswer{}, s.storeProblem(err)
		}
	}
	if invalid > 0 && (atomic || len(valid.Events) == 0) {
		detail := strconv.Itoa(invalid) + " of " + strconv.Itoa(len(items)) + " events are invalid; nothing was stored"
		if len(quarantine) > 0 {
			detail += " (" + strconv.Itoa(len(quarantine)) + " kept in the quarantine)"
		}
		p := problemf(http.StatusBadRequest, "invalid_events", detail)
		p.Errors = rejected
		return ingestAnswer{}, p
	}
	answer := ingestAnswer{Rejected: rejected, Quarantined: len(quarantine)}
	if answer.Rejected == nil {
		answer.Rejected = []EventProblem{}
	}
	t, err := s.writer.Submit(valid)
	if err != nil {
		return ingestAnswer{}, s.storeProblem(err)
	}
	if async {
		answer.Accepted = len(valid.Events)
		s.metrics.events.WithLabelValues("accepted").Add(float64(len(valid.Events)))
		return answer, nil
	}
	res, err := s.wait(r, t)
	if err != nil {
		return ingestAnswer{}, s.storeProblem(err)
	}
	for _, a := range res.Events {
		if a.Duplicate {
			answer.Duplicates++
		} else {
			answer.Accepted++
		}
	}
	answer.Position = res.Position()
	s.metrics.events.WithLabelValues("accepted").Add(float64(answer.Accepted))
	s.metrics.events.WithLabelValues("duplicate").Add(float64(answer.Duplicates))
	return answer, nil
}

// decoder reads the body of an ingest request into items. It returns the
// request to carry on with: the Segment routes find the key in the body,
// and return the request with the key in its context.
type decoder func(w http.ResponseWriter, r *http.Request) (*http.Request, []Item, *Problem)

// decodeWith is the decoder of a decoding function that needs only the
// request and the limits.
func (s *Server) decodeWith(decode func(*http.Request, Limits) ([]Item, *Problem)) decoder {
	return func(_ http.ResponseWriter, r *http.Request) (*http.Request, []Item, *Problem) {
		items, p := decode(r, s.cfg.Limits)
		return r, items, p
	}
}

// start is how every ingest route begins: refuse at once when every place
// is taken (full), decode the body within the limits and the budget of
// bodies being read (reserveBody), take a place
// (admit), then stamp the events with what the server adds. On false the
// answer is written; otherwise the caller gives the place back with
// release.
func (s *Server) start(w http.ResponseWriter, r *http.Request, decode decoder) (_ *http.Request, items []Item, release func(), ok bool) {
	if s.full(w) {
		return r, nil, nil, false
	}
	decoded, p := s.reserveBody(r)
	if p != nil {
		writeProblem(w, p)
		return r, nil, nil, false
	}
	_, span := s.span(r, "decode")
	r, items, p = decode(w, r)
	traceEvents(span, len(items), 0)
	span.End()
	if busy := decoded(); busy != nil {
		p = busy
	}
	if p != nil {
		writeProblem(w, p)
		return r, nil, nil, false
	}
	if release, ok = s.admit(w); !ok {
		return r, nil, nil, false
	}
	if p := s.stamp(r, items); p != nil {
		release()
		writeProblem(w, p)
		return r, nil, nil, false
	}
	return r, items, release, true
}

// stamp fills in what the server adds to each decoded event: the key's name
// as the default source, and received_at in the metadata. It refuses the
// request when the key may not send one of the types.
func (s *Server) stamp(r *http.Request, items []Item) *Problem {
	ks := keyFrom(r)
	var memberBuf [64]byte
	member := append(memberBuf[:0], `"received_at":"`...)
	member = append(time.Now().UTC().AppendFormat(member, time.RFC3339Nano), '"')
	// Every event's new metadata is written into one buffer, made at its
	// final size: one allocation per request instead of several per event.
	size := 0
	for i := range items {
		size += len(items[i].Event.Metadata) + len(member) + len("{,}")
	}
	metadata := make([]byte, 0, size)
	for i := range items {
		e := &items[i].Event
		if items[i].Err != nil {
			continue
		}
		if len(ks.Types) > 0 && !slices.Contains(ks.Types, e.Type) {
			p := problemf(http.StatusForbidden, "type_not_allowed", "key "+ks.Name+" may not send events of type "+strconv.Quote(e.Type))
			p.Errors = []EventProblem{{Index: i, ID: e.ID, Path: "/type", Message: "type not allowed for this key"}}
			return p
		}
		if e.Source == "" {
			e.Source = ks.Name
		}
		start := len(metadata)
		metadata = appendWithMember(metadata, e.Metadata, member)
		e.Metadata = metadata[start:len(metadata):len(metadata)]
	}
	return nil
}

// appendWithMember appends the JSON object obj (empty: {}) with member
// (`"name":value`) added last, where JSON readers keep it if the client
// sent the same name; obj is appended as it is when it is not an object,
// which Validate reports. It appends at most len(obj)+len(member)+3 bytes.
func appendWithMember(b, obj, member []byte) []byte {
	trimmed := bytes.TrimRight(obj, " \t\r\n")
	switch {
	case len(trimmed) == 0:
	case trimmed[len(trimmed)-1] != '}':
		return append(b, obj...)
	case len(bytes.TrimSpace(trimmed[bytes.IndexByte(trimmed, '{')+1:len(trimmed)-1])) > 0:
		b = append(b, trimmed[:len(trimmed)-1]...)
		b = append(b, ',')
		b = append(b, member...)
		return append(b, '}')
	}
	b = append(b, '{')
	b = append(b, member...)
	return append(b, '}')
}

// appendAnswer is the answer of POST /v1/streams/{stream}/events.
type appendAnswer struct {
	Position   sluice.Position `json:"position"`
	Version    uint64          `json:"version"`
	Duplicates int             `json:"duplicates"`
}

// appendStream is POST /v1/streams/{stream}/events: all or nothing, under
// an expected version.
func (s *Server) appendStream(w http.ResponseWriter, r *http.Request) {
	stream := r.PathValue("stream")
	if err := sluice.CheckStream(stream); err != nil {
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_stream", err.Error()))
		return
	}
	expected, err := sluice.ParseExpectedVersion(r.URL.Query().Get("expected_version"))
	if err != nil {
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_parameter", "expected_version: "+err.Error()))
		return
	}
	r, items, release, ok := s.start(w, r, func(w http.ResponseWriter, r *http.Request) (*http.Request, []Item, *Problem) {
		items, p := DecodeStreamAppend(r, s.cfg.Limits)
		for i := range items {
			e := &items[i].Event
			if items[i].Err == nil && e.Stream != "" && e.Stream != stream {
				items[i].Err = &EventProblem{Index: i, ID: e.ID, Path: "/stream", Message: "is " + strconv.Quote(e.Stream) + " in an append to stream " + strconv.Quote(stream)}
			}
			e.Stream = stream
		}
		return r, items, p
	})
	if !ok {
		return
	}
	defer release()
	valid, rejected, _ := s.check(r, items, false)
	if invalid := len(items) - len(valid.Events); invalid > 0 {
		s.metrics.events.WithLabelValues("rejected").Add(float64(invalid))
		p := problemf(http.StatusBadRequest, "invalid_events", strconv.Itoa(invalid)+" of "+strconv.Itoa(len(items))+" events are invalid; nothing was stored")
		p.Errors = rejected
		writeProblem(w, p)
		return
	}
	valid.Stream, valid.Expected = stream, expected // every event's stream is set above
	t, err := s.writer.Submit(valid)
	var res sluice.AppendResult
	if err == nil {
		res, err = s.wait(r, t)
	}
	if err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	answer := appendAnswer{Position: res.Position()}
	for _, a := range res.Events {
		answer.Version = max(answer.Version, a.Version)
		if a.Duplicate {
			answer.Duplicates++
		}
	}
	s.metrics.events.WithLabelValues("accepted").Add(float64(len(res.Events) - answer.Duplicates))
	s.metrics.events.WithLabelValues("duplicate").Add(float64(answer.Duplicates))
	s.answer(w, r, http.StatusCreated, answer.appendJSON)
}

// writeEvents answers 200 with {"events": [...], then the members rest
// (JSON, without braces)}, each event's data and metadata byte for byte as
// stored: encoding/json would compact them and escape <, > and &.
func writeEvents(w http.ResponseWriter, events []sluice.Event, rest string) {
	size := len(rest) + 16
	for i := range events {
		size += events[i].Size() + 160
	}
	b := append(make([]byte, 0, size), `{"events":[`...)
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = events[i].AppendJSON(b)
	}
	b = append(b, "],"...)
	b = append(b, rest...)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// readStream is GET /v1/streams/{stream}/events.
func (s *Server) readStream(w http.ResponseWriter, r *http.Request) {
	opts, p := s.readStreamParams(r.URL.Query())
	if p != nil {
		writeProblem(w, p)
		return
	}
	s.serveStream(w, r, opts)
}

// readStreamParams reads limit=, from_version= and direction=.
func (s *Server) readStreamParams(q url.Values) (sluice.ReadStreamOptions, *Problem) {
	limit, p := s.limitParam(q)
	if p != nil {
		return sluice.ReadStreamOptions{}, p
	}
	from, p := uintParam(q, "from_version")
	if p != nil {
		return sluice.ReadStreamOptions{}, p
	}
	opts := sluice.ReadStreamOptions{FromVersion: from, Limit: limit}
	switch q.Get("direction") {
	case "", "forward":
	case "backward":
		opts.Backward = true
	default:
		return opts, problemf(http.StatusBadRequest, "invalid_parameter", `direction must be "forward" or "backward"`)
	}
	return opts, nil
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, opts sluice.ReadStreamOptions) {
	evs, err := s.store.ReadStream(r.Context(), r.PathValue("stream"), opts)
	if err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	var next *string
	q := r.URL.Query()
	switch {
	case !opts.Backward && len(evs) > 0:
		q.Set("from_version", strconv.FormatUint(evs[len(evs)-1].Version+1, 10))
		next = nextURL(r, q)
	case !opts.Backward:
		next = nextURL(r, q) // nothing yet: the same page, later
	case len(evs) == opts.Limit && evs[len(evs)-1].Version > 1:
		q.Set("from_version", strconv.FormatUint(evs[len(evs)-1].Version-1, 10))
		next = nextURL(r, q)
	}
	nextJSON, _ := json.Marshal(next) // a *string always encodes
	writeEvents(w, evs, `"next":`+string(nextJSON))
}

func nextURL(r *http.Request, q url.Values) *string {
	u := r.URL.Path + "?" + q.Encode()
	return &u
}

// listStreams is GET /v1/streams.
func (s *Server) listStreams(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, p := s.limitParam(q)
	if p != nil {
		writeProblem(w, p)
		return
	}
	streams, err := s.store.ListStreams(r.Context(), q.Get("prefix"), q.Get("after"), limit)
	if err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	page := struct {
		Streams []sluice.StreamInfo `json:"streams"`
		Next    *string             `json:"next"`
	}{Streams: streams}
	if page.Streams == nil {
		page.Streams = []sluice.StreamInfo{}
	}
	if len(streams) == limit {
		q.Set("after", streams[len(streams)-1].Stream)
		page.Next = nextURL(r, q)
	}
	writeJSON(w, http.StatusOK, page)
}

// readLog is GET /v1/events.
func (s *Server) readLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, after, p := s.pageParams(q)
	if p != nil {
		writeProblem(w, p)
		return
	}
	f := filterParams(q)
	evs, next, err := s.readFrom(r.Context(), sluice.Position(after), q.Has("after"), f, limit)
	if err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	if len(evs) > 0 {
		next = evs[len(evs)-1].Position
	}
	writeEvents(w, evs, `"next_after":`+strconv.FormatUint(uint64(next), 10))
}

// filterParams reads type=a,b, stream_prefix= and category=.
func filterParams(q url.Values) sluice.Filter {
	var f sluice.Filter
	for _, v := range q["type"] {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				f.Types = append(f.Types, t)
			}
		}
	}
	f.StreamPrefix = q.Get("stream_prefix")
	f.Category = q.Get("category")
	return f
}

// pageParams reads limit= and after=, the page of a read by position or
// sequence number.
func (s *Server) pageParams(q url.Values) (limit int, after uint64, p *Problem) {
	if limit, p = s.limitParam(q); p != nil {
		return 0, 0, p
	}
	after, p = uintParam(q, "after")
	return limit, after, p
}

// limitParam reads limit=, default 100, at most MaxPageSize.
func (s *Server) limitParam(q url.Values) (int, *Problem) {
	if q.Get("limit") == "" {
		return min(100, s.cfg.Limits.MaxPageSize), nil
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil || n < 1 || n > s.cfg.Limits.MaxPageSize {
		return 0, problemf(http.StatusBadRequest, "invalid_parameter", "limit must be 1 to "+strconv.Itoa(s.cfg.Limits.MaxPageSize))
	}
	return n, nil
}

func uintParam(q url.Values, name string) (uint64, *Problem) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, problemf(http.StatusBadRequest, "invalid_parameter", name+" must be a whole number")
	}
	return n, nil
}

// readSmallBody reads a request body of at most limit bytes (a schema, a
// replay selection): the ingest decoders handle the large ones.
func readSmallBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *Problem) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, bodyTooLarge(limit)
	case err != nil:
		return nil, problemf(http.StatusBadRequest, "unreadable_body", "reading the body: "+err.Error())
	}
	return body, nil
}

func boolParam(q url.Values, name string) (bool, *Problem) {
	switch q.Get(name) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, problemf(http.StatusBadRequest, "invalid_parameter", name+" must be true or false")
}
