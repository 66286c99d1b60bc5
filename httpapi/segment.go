package httpapi

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/jsonscan"
)

// This file is the Segment HTTP Tracking API: the routes that Segment's
// and RudderStack's SDKs post to, a decoder of their bodies, and the
// mapping of a Segment message to an event (docs/segment.md). Everything
// after the decoder is the ingest path of POST /v1/events: schemas, the
// quarantine, the writer.

// SegmentConfig configures the Segment-compatible routes.
type SegmentConfig struct {
	// TypePrefix makes the type of the identify, page, screen, group and
	// alias messages: TypePrefix + the message's type. Default "segment.".
	TypePrefix string `yaml:"type_prefix"`
	// TrackPrefix makes the type of a track message: TrackPrefix + its
	// event name, each character outside A-Za-z0-9._:- written '_', so
	// that a schema per event name is a tracking plan. Default
	// "segment.track.".
	TrackPrefix string `yaml:"track_prefix"`
	// TrackOneType gives every track message the one type TypePrefix +
	// "track" instead. Default false.
	TrackOneType bool `yaml:"track_one_type"`
	// Stream is the stream of a message: "user" (user-<userId>, or
	// anonymous-<anonymousId> without a userId: a user's history is a
	// stream) or "type" (the event's type). Default user.
	Stream string `yaml:"stream"`
	// MaxMessageBytes bounds one message, as sent. Default 32768 (32 KB,
	// Segment's limit).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// MaxBatchBytes bounds a request's body, as sent and once
	// decompressed. Default 512000 (500 KB, Segment's limit).
	MaxBatchBytes int64 `yaml:"max_batch_bytes"`
	// MaxBatchMessages bounds the messages of a batch. Default 2500.
	MaxBatchMessages int `yaml:"max_batch_messages"`
	// APIHost is the host (and port) that the settings document tells
	// analytics.js to send to, without a scheme. Default: the Host the
	// settings were asked from.
	APIHost string `yaml:"api_host"`
	// Protocol is the scheme that goes with APIHost: http or https.
	// Default: https when the settings were asked over TLS (or
	// X-Forwarded-Proto says https), else http.
	Protocol string `yaml:"protocol"`
}

// The streams of Segment messages (SegmentConfig.Stream).
const (
	SegmentStreamUser = "user"
	SegmentStreamType = "type"
)

func (c SegmentConfig) withDefaults() SegmentConfig {
	if c.TypePrefix == "" {
		c.TypePrefix = "segment."
	}
	if c.TrackPrefix == "" {
		c.TrackPrefix = "segment.track."
	}
	if c.Stream == "" {
		c.Stream = SegmentStreamUser
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 32 << 10
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 500 << 10
	}
	if c.MaxBatchMessages <= 0 {
		c.MaxBatchMessages = 2500
	}
	return c
}

// validate appends the problems of c to errs.
func (c SegmentConfig) validate(errs []error) []error {
	for _, f := range []struct {
		path string
		neg  bool
	}{
		{"segment.max_message_bytes", c.MaxMessageBytes < 0},
		{"segment.max_batch_bytes", c.MaxBatchBytes < 0},
		{"segment.max_batch_messages", c.MaxBatchMessages < 0},
	} {
		if f.neg {
			errs = append(errs, fmt.Errorf("%s: must not be negative", f.path))
		}
	}
	switch c.Stream {
	case "", SegmentStreamUser, SegmentStreamType:
	default:
		errs = append(errs, fmt.Errorf("segment.stream: %q is not user or type", c.Stream))
	}
	switch c.Protocol {
	case "", "http", "https":
	default:
		errs = append(errs, fmt.Errorf("segment.protocol: %q is not http or https", c.Protocol))
	}
	if strings.Contains(c.APIHost, "://") {
		errs = append(errs, fmt.Errorf("segment.api_host: %q has a scheme; give the host (and port) only, and the scheme in segment.protocol", c.APIHost))
	}
	for _, p := range []struct{ path, prefix string }{{"segment.type_prefix", c.TypePrefix}, {"segment.track_prefix", c.TrackPrefix}} {
		if p.prefix != "" && sluice.CheckType(p.prefix) != nil {
			errs = append(errs, fmt.Errorf("%s: %q has characters that a type may not have (A-Za-z0-9._:-)", p.path, p.prefix))
		}
	}
	return errs
}

// segmentTypes are the message types, by route: the path's last part.
var segmentTypes = map[string]string{
	"track": "track", "t": "track",
	"identify": "identify", "i": "identify",
	"page": "page", "p": "page",
	"screen": "screen", "s": "screen",
	"group": "group", "g": "group",
	"alias": "alias", "a": "alias",
}

// segmentRoutes registers the Segment routes. They need no key before the
// body is read: analytics.js sends the write key in the body.
func (s *Server) segmentRoutes() {
	for path, typ := range segmentTypes {
		s.handle("POST /v1/"+path, "segment_"+typ, "", s.segmentIngest(typ))
	}
	for _, path := range []string{"batch", "b", "import"} {
		s.handle("POST /v1/"+path, "segment_batch", "", s.segmentIngest(""))
	}
	s.handle("POST /v1/m", "segment_metrics", "", s.segmentMetrics)
	s.handle("GET /v1/projects/{writeKey}/settings", "segment_settings", "", s.segmentSettings)
}

// segmentAnswer is what the Segment routes answer once the messages are
// stored: success, as the SDKs expect, and what became of each.
type segmentAnswer struct {
	Success    bool           `json:"success"`
	Accepted   int            `json:"accepted"`
	Duplicates int            `json:"duplicates"`
	Rejected   []EventProblem `json:"rejected"`
}

// segmentIngest is POST /v1/<typ> (typ "" : a batch). The SDKs drop what
// is answered 400 and send again whatever else fails, so 400 is kept for
// what can never succeed: a too large or malformed body (413 and 415 are
// answered 400 here), or messages that are all invalid.
func (s *Server) segmentIngest(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r, items, release, ok := s.start(w, r, func(w http.ResponseWriter, r *http.Request) (*http.Request, []Item, *Problem) {
			body, p := readSegmentBody(r, s.cfg.Segment)
			if p != nil {
				return r, nil, p
			}
			var req segmentRequest
			if typ == "" {
				req, p = decodeSegmentBatch(body, s.cfg.Segment)
			} else {
				req, p = decodeSegmentMessage(body, typ, s.cfg.Segment)
			}
			if p != nil {
				return r, nil, p
			}
			secret := segmentSecret(r)
			if secret == "" {
				secret = req.writeKey
			}
			r, p = s.authenticate(w, r, RoleWrite, secret)
			if p != nil {
				return r, nil, p
			}
			return r, req.events(s.cfg.Segment, time.Now()), nil
		})
		if !ok {
			return
		}
		defer release()
		answer, p := s.commit(r, items, false, false)
		if p != nil {
			writeProblem(w, p)
			return
		}
		sa := segmentAnswer{Success: true, Accepted: answer.Accepted, Duplicates: answer.Duplicates, Rejected: answer.Rejected}
		s.answer(w, r, http.StatusOK, sa.appendJSON)
	}
}

// segmentSecret is the write key a Segment request carries outside its
// body: HTTP Basic user name (analytics-node, analytics.js), Bearer,
// ?writeKey= or ?key=.
func segmentSecret(r *http.Request) string {
	if secret := secretOf(r, true); secret != "" {
		return secret
	}
	return r.URL.Query().Get("writeKey")
}

// readSegmentBody reads a Segment request's body within the batch limit:
// JSON whatever the Content-Type says, gzip-compressed when
// Content-Encoding says so or when it starts as gzip does (some SDKs send
// gzip labelled application/x-www-form-urlencoded). Limits are answered
// 400: the SDKs send again anything else.
func readSegmentBody(r *http.Request, c SegmentConfig) ([]byte, *Problem) {
	l := Limits{MaxBodyBytes: c.MaxBatchBytes, MaxDecompressedBytes: c.MaxBatchBytes}
	body, p := readBody(r, l)
	if p == nil && len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b {
		var zr *gzip.Reader
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = readAtMost(zr, c.MaxBatchBytes, -1)
		}
		switch {
		case err == errTooLarge:
			p = problemf(http.StatusBadRequest, "payload_too_large", fmt.Sprintf("the body is over %d bytes once decompressed", c.MaxBatchBytes))
		case err != nil:
			p = problemf(http.StatusBadRequest, "invalid_gzip", "the body is not valid gzip: "+err.Error())
		}
	}
	if p != nil && (p.Status == http.StatusRequestEntityTooLarge || p.Status == http.StatusUnsupportedMediaType) {
		p.Status, p.Title = http.StatusBadRequest, http.StatusText(http.StatusBadRequest)
	}
	return body, p
}

// segmentRequest is a decoded Segment body: its messages, and what the
// batch around them says.
type segmentRequest struct {
	messages []segmentMessage
	// writeKey is the key in the body, if any.
	writeKey string
	// context and integrations are the batch's, merged into each message;
	// sentAt is the batch's, for messages without their own.
	context, integrations []byte
	sentAt                string
	sentAtTime            time.Time
}

// segmentMessage is one message: its members as sent, what the mapping
// needs of them, and why it is refused, if it is.
type segmentMessage struct {
	raw     []byte      // the message as sent
	members []rawMember // in order, as sent
	typ, userID, anonymousID, event, messageID,
	timestamp, originalTimestamp, sentAt string
	// The times of timestamp, originalTimestamp and sentAt; zero when
	// not sent.
	timestampAt, originalAt, sentAtTime time.Time
	context, integrations               []byte
	err                                 *EventProblem
}

// rawMember is one member of an object: its name as the token sent, and
// its value.
type rawMember struct{ key, value []byte }

// decodeSegmentBatch decodes the body of POST /v1/batch: an object whose
// batch member is the array of messages, with writeKey, sentAt, context
// and integrations beside it; other members are ignored.
func decodeSegmentBatch(b []byte, c SegmentConfig) (segmentRequest, *Problem) {
	var req segmentRequest
	top, p := segmentObject(b)
	if p != nil {
		return req, p
	}
	var batch []byte
	for _, m := range top {
		var err error
		switch string(jsonscan.Unquote(m.key, false)) {
		case "batch":
			batch = m.value
		case "writeKey":
			req.writeKey, err = optionalString(m.value)
		case "sentAt":
			req.sentAt, req.sentAtTime, err = optionalTime(m.value)
		case "context":
			req.context, err = optionalObject(m.value)
		case "integrations":
			req.integrations, err = optionalObject(m.value)
		}
		if err != nil {
			return req, problemf(http.StatusBadRequest, "invalid_batch", "/"+string(jsonscan.Unquote(m.key, false))+" "+err.Error())
		}
	}
	if len(batch) == 0 || batch[0] != '[' {
		return req, problemf(http.StatusBadRequest, "invalid_batch", "the body has no batch: an array of messages")
	}
	i := jsonscan.SkipSpace(batch, 1)
	if batch[i] == ']' {
		return req, problemf(http.StatusBadRequest, "no_events", "the batch is empty")
	}
	for {
		if len(req.messages) == c.MaxBatchMessages {
			return req, problemf(http.StatusBadRequest, "too_many_events", fmt.Sprintf("the batch holds more than %d messages", c.MaxBatchMessages))
		}
		m, end := decodeSegmentFields(batch[i:], "", c)
		req.messages = append(req.messages, m)
		i = jsonscan.SkipSpace(batch, i+end)
		if batch[i] == ']' {
			return req, nil
		}
		i = jsonscan.SkipSpace(batch, i+1) // a ','
	}
}

// decodeSegmentMessage decodes the body of POST /v1/<typ>: one message,
// whose type is the route's.
func decodeSegmentMessage(b []byte, typ string, c SegmentConfig) (segmentRequest, *Problem) {
	if _, p := segmentObject(b); p != nil {
		return segmentRequest{}, p
	}
	m, _ := decodeSegmentFields(b[jsonscan.SkipSpace(b, 0):], typ, c)
	return segmentRequest{messages: []segmentMessage{m}, writeKey: m.writeKeyOf()}, nil
}

// segmentObject checks that b is one JSON object and returns its members.
func segmentObject(b []byte) ([]rawMember, *Problem) {
	i := jsonscan.SkipSpace(b, 0)
	if i == len(b) {
		return nil, emptyBody()
	}
	if b[i] != '{' {
		if err := checkValue(b); err != nil {
			return nil, malformed(err)
		}
		return nil, problemf(http.StatusBadRequest, "invalid_batch", "the body must be a JSON object, not "+kindOf(b[i]))
	}
	members, end, err := objectMembers(b, i, 0)
	if err == nil {
		err = endOfBody(b, end)
	}
	if err != nil {
		return nil, malformed(err)
	}
	return members, nil
}

// objectMembers returns the members of the object at b[i], nested in
// depth containers, and where the object ends.
func objectMembers(b []byte, i, depth int) ([]rawMember, int, *jsonscan.SyntaxError) {
	members := make([]rawMember, 0, 16)
	o := jsonscan.ObjectReader{B: b, Pos: i, Depth: depth}
	for {
		_, rawKey, ok, err := o.Next()
		if err != nil || !ok {
			return members, o.Pos, err
		}
		v := o.Pos
		if o.Pos, err = jsonscan.SkipValue(b, v, depth+1); err != nil {
			return members, o.Pos, err
		}
		members = append(members, rawMember{key: rawKey, value: b[v:o.Pos]})
	}
}

// decodeSegmentFields reads the message at the start of b, valid JSON,
// returns it and where it ends, and checks the rules of the Tracking API:
// an object of at most MaxMessageBytes, with a type (typ, the route's,
// when not ""; else its own), a userId or an anonymousId, an event for
// track, a groupId for group, a previousId for alias; the ids and
// timestamps strings, context and integrations objects.
func decodeSegmentFields(b []byte, typ string, c SegmentConfig) (segmentMessage, int) {
	m := segmentMessage{typ: typ}
	if b[0] != '{' {
		end, _ := jsonscan.SkipValue(b, 0, 1) // b is valid JSON
		m.raw = b[:end]
		m.fail("", "a message must be a JSON object, not "+kindOf(b[0]))
		return m, end
	}
	var end int
	m.members, end, _ = objectMembers(b, 0, 1) // b is valid JSON
	m.raw = b[:end]
	raw := m.raw
	var groupID, previousID string
	for k, mb := range m.members {
		name := jsonscan.Unquote(mb.key, false)
		for _, before := range m.members[:k] {
			if string(before.key) == string(mb.key) {
				m.fail("/"+string(name), "is given more than once")
			}
		}
		var err error
		switch string(name) {
		case "type":
			var t string
			if t, err = optionalString(mb.value); typ == "" {
				m.typ = t
			}
		case "userId":
			m.userID, err = optionalID(mb.value)
		case "anonymousId":
			m.anonymousID, err = optionalID(mb.value)
		case "event":
			m.event, err = optionalString(mb.value)
		case "messageId":
			m.messageID, err = optionalString(mb.value)
		case "groupId":
			groupID, err = optionalID(mb.value)
		case "previousId":
			previousID, err = optionalID(mb.value)
		case "timestamp":
			m.timestamp, m.timestampAt, err = optionalTime(mb.value)
		case "originalTimestamp":
			m.originalTimestamp, m.originalAt, err = optionalTime(mb.value)
		case "sentAt":
			m.sentAt, m.sentAtTime, err = optionalTime(mb.value)
		case "context":
			m.context, err = optionalObject(mb.value)
		case "integrations":
			m.integrations, err = optionalObject(mb.value)
		}
		if err != nil {
			m.fail("/"+string(name), err.Error())
		}
	}
	switch {
	case len(raw) > c.MaxMessageBytes:
		m.fail("", fmt.Sprintf("the message is over %d bytes", c.MaxMessageBytes))
	case m.typ == "":
		m.fail("/type", "is required: track, identify, page, screen, group or alias")
	case segmentTypes[m.typ] != m.typ:
		m.fail("/type", fmt.Sprintf("is %q; a message is a track, identify, page, screen, group or alias", m.typ))
	case m.userID == "" && m.anonymousID == "":
		m.fail("/userId", "userId or anonymousId is required")
	case m.typ == "track" && m.event == "":
		m.fail("/event", "is required for a track")
	case m.typ == "group" && groupID == "":
		m.fail("/groupId", "is required for a group")
	case m.typ == "alias" && previousID == "":
		m.fail("/previousId", "is required for an alias")
	}
	return m, end
}

// fail refuses the message, with the first problem found.
func (m *segmentMessage) fail(path, message string) {
	if m.err == nil {
		m.err = &EventProblem{Path: path, Message: message}
	}
}

// writeKeyOf is the message's own writeKey member (analytics.js sends it
// in every message).
func (m *segmentMessage) writeKeyOf() string {
	for _, mb := range m.members {
		if string(mb.key) == `"writeKey"` {
			k, _ := optionalString(mb.value)
			return k
		}
	}
	return ""
}

var (
	errNotString = errors.New("must be a string")
	errNotObject = errors.New("must be a JSON object")
	errNotTime   = errors.New("must be an ISO 8601 date and time, such as 2025-06-01T12:00:00.000Z")
)

// optionalString is the text of the JSON string v; null is "".
func optionalString(v []byte) (string, error) {
	switch v[0] {
	case 'n':
		return "", nil
	case '"':
		return string(jsonscan.Unquote(v, false)), nil
	}
	return "", errNotString
}

// optionalID is the text of an id: a string, or a number as written (some
// clients send numeric user ids); null is "".
func optionalID(v []byte) (string, error) {
	if v[0] == '-' || '0' <= v[0] && v[0] <= '9' {
		return string(v), nil
	}
	return optionalString(v)
}

// optionalObject is v when it is an object; null is nil.
func optionalObject(v []byte) ([]byte, error) {
	switch v[0] {
	case 'n':
		return nil, nil
	case '{':
		return v, nil
	}
	return nil, errNotObject
}

// optionalTime is the text of a string that holds an ISO 8601 date and
// time, and that time; null is "".
func optionalTime(v []byte) (string, time.Time, error) {
	text, err := optionalString(v)
	if err != nil || text == "" {
		return text, time.Time{}, err
	}
	t, ok := parseSegmentTime(text)
	if !ok {
		return "", time.Time{}, errNotTime
	}
	return text, t, nil
}

// parseSegmentTime reads an ISO 8601 date and time as the SDKs write them
// (RFC 3339, or with a zone offset without its colon).
func parseSegmentTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// segmentTime writes t as Segment does: UTC, milliseconds.
func segmentTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// events maps the request's messages to items, in order, received now.
func (req segmentRequest) events(c SegmentConfig, now time.Time) []Item {
	items := make([]Item, len(req.messages))
	for i := range req.messages {
		m := &req.messages[i]
		if m.err != nil {
			items[i].Err = m.err
		} else {
			items[i].Event = m.toEvent(req, c, now)
		}
		items[i] = placed(i, items[i], m.messageID)
	}
	return items
}

// placed gives the problem of the item at index its place and the
// message's id.
func placed(index int, it Item, id string) Item {
	if it.Err != nil {
		it.Err.Index, it.Err.ID = index, id
	}
	return it
}

// toEvent maps the message to an event (docs/segment.md): the id is the
// messageId (assigned when missing), the type and the stream as
// configured, the time the corrected timestamp, and the data the whole
// message normalized: the batch's context and integrations merged in,
// messageId, timestamp (corrected as receivedAt − (sentAt − timestamp)
// when sentAt is known), originalTimestamp (the timestamp sent), sentAt
// and receivedAt (the server's time) set, writeKey taken out.
func (m *segmentMessage) toEvent(req segmentRequest, c SegmentConfig, now time.Time) sluice.Event {
	if m.messageID == "" {
		m.messageID = sluice.NewID()
	}
	received := segmentTime(now)
	sentAt, sent := m.sentAt, m.sentAtTime
	if sentAt == "" {
		sentAt, sent = req.sentAt, req.sentAtTime
	}
	original, t := m.timestamp, m.timestampAt
	if original == "" {
		original, t = m.originalTimestamp, m.originalAt
	}
	timestamp := received
	switch {
	case original != "" && sentAt != "":
		timestamp = segmentTime(now.Add(-sent.Sub(t)))
	case original != "":
		timestamp = segmentTime(t)
	}
	data := make([]byte, 0, len(m.raw)+len(req.context)+len(req.integrations)+256)
	data = append(data, `{"type":`...)
	data = jsonscan.AppendString(data, m.typ)
	for _, mb := range m.members {
		switch string(mb.key) {
		case `"type"`, `"writeKey"`, `"messageId"`, `"timestamp"`, `"originalTimestamp"`, `"sentAt"`, `"receivedAt"`, `"context"`, `"integrations"`:
			continue
		}
		data = appendRawMember(data, mb.key, mb.value)
	}
	data = appendStringMember(data, `"messageId"`, m.messageID)
	if ctx := mergeObjects(req.context, m.context); ctx != nil {
		data = appendRawMember(data, []byte(`"context"`), ctx)
	}
	if in := mergeObjects(req.integrations, m.integrations); in != nil {
		data = appendRawMember(data, []byte(`"integrations"`), in)
	}
	data = appendStringMember(data, `"timestamp"`, timestamp)
	if original != "" {
		data = appendStringMember(data, `"originalTimestamp"`, original)
	}
	if sentAt != "" {
		data = appendStringMember(data, `"sentAt"`, sentAt)
	}
	data = appendStringMember(data, `"receivedAt"`, received)
	data = append(data, '}')
	return sluice.Event{ID: m.messageID, Type: m.eventType(c), Stream: m.stream(c), Time: timestamp, Data: data}
}

// appendRawMember appends the member key: value to the object being built
// in obj, which has at least its '{'.
func appendRawMember(obj, key, value []byte) []byte {
	if obj[len(obj)-1] != '{' {
		obj = append(obj, ',')
	}
	obj = append(obj, key...)
	obj = append(obj, ':')
	return append(obj, value...)
}

// appendStringMember appends the member key: the JSON string of s, as
// appendRawMember does.
func appendStringMember(obj []byte, key, s string) []byte {
	if obj[len(obj)-1] != '{' {
		obj = append(obj, ',')
	}
	obj = append(obj, key...)
	obj = append(obj, ':')
	return jsonscan.AppendString(obj, s)
}

// mergeObjects returns the object over with the members of base that over
// does not have; nil when both are nil.
func mergeObjects(base, over []byte) []byte {
	if base == nil || bytes.Equal(bytes.TrimSpace(base), []byte("{}")) {
		return over
	}
	if over == nil {
		return base
	}
	baseMembers, _, _ := objectMembers(base, 0, 1) // both are valid objects
	overMembers, _, _ := objectMembers(over, 0, 1)
	names := make(map[string]bool, len(overMembers))
	for _, mb := range overMembers {
		names[string(jsonscan.Unquote(mb.key, false))] = true
	}
	merged := append(make([]byte, 0, len(base)+len(over)), '{')
	for _, mb := range baseMembers {
		if !names[string(jsonscan.Unquote(mb.key, false))] {
			merged = appendRawMember(merged, mb.key, mb.value)
		}
	}
	for _, mb := range overMembers {
		merged = appendRawMember(merged, mb.key, mb.value)
	}
	return append(merged, '}')
}

// eventType is the type of the message's event (SegmentConfig).
func (m *segmentMessage) eventType(c SegmentConfig) string {
	if m.typ != "track" || c.TrackOneType {
		return c.TypePrefix + m.typ
	}
	return c.TrackPrefix + typeName(m.event)
}

// typeName writes each character of an event name that a type may not
// have as '_'.
func typeName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == ':', r == '-':
			return r
		}
		return '_'
	}, name)
}

// stream is the message's stream (SegmentConfig.Stream); "" is the type.
func (m *segmentMessage) stream(c SegmentConfig) string {
	switch {
	case c.Stream == SegmentStreamType:
		return ""
	case m.userID != "":
		return "user-" + m.userID
	}
	return "anonymous-" + m.anonymousID
}

// segmentMetrics is POST /v1/m: the browser library's own metrics,
// counted (sluice_segment_client_metrics_total), not stored.
func (s *Server) segmentMetrics(w http.ResponseWriter, r *http.Request) {
	body, p := readSegmentBody(r, s.cfg.Segment)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var series int
	if members, p := segmentObject(body); p == nil {
		for _, mb := range members {
			if string(mb.key) == `"series"` && mb.value[0] == '[' {
				n, _ := arrayLength(mb.value)
				series = n
			}
		}
	}
	s.metrics.segmentMetrics.Add(float64(max(series, 1)))
	setSegmentCORS(w, r)
	sa := segmentAnswer{Success: true, Rejected: []EventProblem{}}
	writeBody(w, http.StatusOK, jsonContentType, sa.appendJSON)
}

// arrayLength counts the elements of the valid JSON array a.
func arrayLength(a []byte) (int, *jsonscan.SyntaxError) {
	n := 0
	i := jsonscan.SkipSpace(a, 1)
	for i < len(a) && a[i] != ']' {
		end, err := jsonscan.SkipValue(a, i, 1)
		if err != nil {
			return n, err
		}
		n++
		i = jsonscan.SkipSpace(a, end)
		if i < len(a) && a[i] == ',' {
			i = jsonscan.SkipSpace(a, i+1)
		}
	}
	return n, nil
}

// setSegmentCORS lets any page read the answer of a route that stores
// nothing and needs no key (the settings, the metrics).
func setSegmentCORS(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" {
		setCORS(w.Header(), origin)
	}
}

// segmentSettings is GET /v1/projects/{writeKey}/settings: the settings
// document that analytics.js loads from its CDN (cdnURL), with the
// Segment.io integration pointed back at this sluice. The write key must
// be known, and its origins allow the page.
func (s *Server) segmentSettings(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("writeKey")
	ks := s.keys.lookup(key)
	if ks == nil || !ks.Role.allows(RoleWrite) {
		writeProblem(w, problemf(http.StatusNotFound, "unknown_key", "no write key is known by that name"))
		return
	}
	host, protocol := s.cfg.Segment.APIHost, s.cfg.Segment.Protocol
	if host == "" {
		host = r.Host
	}
	if protocol == "" {
		protocol = "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			protocol = "https"
		}
	}
	api := host + "/v1"
	setSegmentCORS(w, r)
	writeJSON(w, http.StatusOK, map[string]any{
		"integrations": map[string]any{
			"Segment.io": map[string]any{"apiKey": key, "apiHost": api, "protocol": protocol},
		},
		"plan":          map[string]any{},
		"metrics":       map[string]any{"sampleRate": 0, "host": api, "protocol": protocol},
		"remotePlugins": []any{},
	})
}
