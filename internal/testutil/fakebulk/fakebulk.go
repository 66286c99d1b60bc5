// Package fakebulk is an OpenSearch _bulk endpoint in memory, for the
// opensearch sink's tests: no OpenSearch server can run on the machines
// sluice is built on. It follows the protocol as OpenSearch 2.x answers it:
// an NDJSON body of action lines (index, create, delete) each followed by
// its source, answered with HTTP 200 and an item per action carrying its
// own status and error (201 created, 200 updated, 400 for a document that
// does not parse or an invalid index name, 409 for a create of an existing
// id), documents stored by index and id so that indexing an id again
// replaces its document, and the answer filtered by filter_path (dotted
// paths of names and * wildcards, arrays looked through, as OpenSearch
// filters); the whole request refused with 400 when its
// framing is wrong, 406 for another content type, 401 without the
// configured credentials. Tests make it fail: whole requests with any
// status and Retry-After, chosen documents refused for good (a mapping
// error) or failed a number of times (429 or 5xx items).
//
// What it does not do: mappings (any JSON object is taken), update
// actions, routing, refresh and the other query parameters of _bulk,
// filter_path's ** and exclusions, ingest pipelines, anything but _bulk.
package fakebulk

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Options configure a Server.
type Options struct {
	// Authorization, when set, is the Authorization header every request
	// must carry; others are answered 401.
	Authorization string
	// TLS serves https with httptest's certificate (Server.Certificate).
	TLS bool
	// NoLog keeps no log of deliveries (for benchmarks); the documents
	// are kept all the same.
	NoLog bool
}

// Delivery is one document as the server indexed it.
type Delivery struct {
	Index, ID string
	Source    json.RawMessage
}

// Server is the fake _bulk endpoint.
type Server struct {
	*httptest.Server
	opts Options

	mu         sync.Mutex
	docs       map[string]map[string]*doc // by index and id
	log        []Delivery
	requests   int
	seqNo      int64
	answer     int // the status of every request while not 0
	retryAfter string
	refused    map[string]bool
	flaky      map[string]int // id: failures left
	flakyCode  int
}

type doc struct {
	source  json.RawMessage
	version int64
}

// Start starts a server that closes when tb ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{opts: opts, docs: map[string]map[string]*doc{}}
	if opts.TLS {
		s.Server = httptest.NewTLSServer(s)
	} else {
		s.Server = httptest.NewServer(s)
	}
	tb.Cleanup(s.Close)
	return s
}

// Answer makes the server answer every request with status (and this
// Retry-After header, when not empty) and an OpenSearch error object;
// status 0 restores it.
func (s *Server) Answer(status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer, s.retryAfter = status, retryAfter
}

// Refuse makes the server refuse the documents of these ids from now on,
// each with a 400 item (a mapping error); no ids takes every document
// again.
func (s *Server) Refuse(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused = map[string]bool{}
	for _, id := range ids {
		s.refused[id] = true
	}
}

// Flaky makes the server fail the documents of these ids, each the next
// times times it gets it, with an item of status code (429: a full write
// queue; 5xx: a shard unavailable), while it takes the other documents.
func (s *Server) Flaky(ids []string, times, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flaky == nil {
		s.flaky = map[string]int{}
	}
	for _, id := range ids {
		s.flaky[id] = times
	}
	s.flakyCode = code
}

// Deliveries returns every document indexed, in the order it was, several
// times a document indexed several times.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.log...)
}

// Doc returns the document of id in index, and its version.
func (s *Server) Doc(index, id string) (source json.RawMessage, version int64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[index][id]
	if !ok {
		return nil, 0, false
	}
	return d.source, d.version, true
}

// Count returns how many documents index holds.
func (s *Server) Count(index string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.docs[index])
}

// Requests returns how many requests reached the server.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// ServeHTTP answers a _bulk request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	answer, retryAfter := s.answer, s.retryAfter
	s.mu.Unlock()
	if want := s.opts.Authorization; want != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="OpenSearch Security"`)
		writeError(w, http.StatusUnauthorized, "security_exception", "missing authentication credentials for REST request [/_bulk]")
		return
	}
	if answer != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeError(w, answer, "fakebulk_exception", "the test made the server answer "+strconv.Itoa(answer))
		return
	}
	defaultIndex, ok := bulkPath(r.URL.Path)
	if !ok || (r.Method != http.MethodPost && r.Method != http.MethodPut) {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception",
			fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.Path, r.Method))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" && mt != "application/x-ndjson" {
		writeError(w, http.StatusNotAcceptable, "illegal_argument_exception",
			fmt.Sprintf("Content-Type header [%s] is not supported", r.Header.Get("Content-Type")))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	actions, refusal := parseBody(body, defaultIndex)
	if refusal != "" {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", refusal)
		return
	}
	filter, err := parseFilterPath(r.URL.Query().Get("filter_path"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", err.Error())
		return
	}
	items := make([]any, len(actions))
	errors := false
	s.mu.Lock()
	for i, a := range actions {
		it := s.apply(a)
		errors = errors || it.Error != nil
		items[i] = object{{a.kind, it.value()}}
	}
	s.mu.Unlock()
	var resp any = object{{"took", 1}, {"errors", errors}, {"items", items}}
	if filter != nil {
		if resp = filter.apply(resp); resp == nil {
			resp = object{}
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(append(appendJSON(nil, resp), '\n'))
}

// bulkPath reads /_bulk or /{index}/_bulk.
func bulkPath(p string) (defaultIndex string, ok bool) {
	if p == "/_bulk" {
		return "", true
	}
	index, ok := strings.CutSuffix(strings.TrimPrefix(p, "/"), "/_bulk")
	return index, ok && index != "" && !strings.Contains(index, "/")
}

// action is one action of a request, with its source.
type action struct {
	kind, index, id string
	source          []byte
}

// parseBody splits a request body into its actions, as OpenSearch's
// BulkRequestParser does, or OpenSearch's reason for refusing the whole
// request.
func parseBody(body []byte, defaultIndex string) ([]action, string) {
	if len(body) == 0 {
		return nil, "request body is required"
	}
	if body[len(body)-1] != '\n' {
		return nil, "The bulk request must be terminated by a newline [\\n]"
	}
	lines := bytes.Split(body[:len(body)-1], []byte{'\n'})
	var actions []action
	for n := 0; n < len(lines); n++ {
		var meta map[string]struct {
			Index *string `json:"_index"`
			ID    *string `json:"_id"`
		}
		if err := json.Unmarshal(lines[n], &meta); err != nil || meta == nil {
			return nil, fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT", n+1)
		}
		if len(meta) != 1 {
			return nil, fmt.Sprintf("Malformed action/metadata line [%d], expected one action, found %d", n+1, len(meta))
		}
		var a action
		for kind, m := range meta {
			a.kind = kind
			if m.Index != nil {
				a.index = *m.Index
			}
			if m.ID != nil {
				a.id = *m.ID
			}
		}
		switch a.kind {
		case "index", "create", "delete":
		case "update":
			return nil, "fakebulk: update actions are not implemented"
		default:
			return nil, fmt.Sprintf("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", n+1, a.kind)
		}
		if a.index == "" {
			a.index = defaultIndex
		}
		if a.index == "" {
			return nil, "Validation Failed: 1: index is missing;"
		}
		if len(a.id) > 512 {
			return nil, fmt.Sprintf("Validation Failed: 1: id [%s] is too long, must be no longer than 512 bytes but was: %d;", a.id, len(a.id))
		}
		if a.kind == "delete" {
			if a.id == "" {
				return nil, "Validation Failed: 1: id is missing;"
			}
		} else {
			n++
			if n == len(lines) {
				return nil, "The bulk request must be terminated by a newline [\\n]"
			}
			a.source = lines[n]
		}
		actions = append(actions, a)
	}
	return actions, ""
}

// item is one action's outcome.
type item struct {
	Index, ID          string
	Version            int64
	Result             string // "" for a failure
	SeqNo, PrimaryTerm int64
	Status             int
	Error              *errorBody
}

// value is the item as OpenSearch writes it, its members in its order.
func (it *item) value() object {
	v := object{{"_index", it.Index}, {"_id", it.ID}}
	if it.Result != "" {
		v = append(v, member{"_version", it.Version}, member{"result", it.Result},
			member{"_shards", object{{"total", 2}, {"successful", 1}, {"failed", 0}}},
			member{"_seq_no", it.SeqNo}, member{"_primary_term", it.PrimaryTerm})
	}
	v = append(v, member{"status", it.Status})
	if it.Error != nil {
		v = append(v, member{"error", it.Error.value()})
	}
	return v
}

// errorBody is OpenSearch's error object.
type errorBody struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	Index    string     `json:"index,omitempty"`
	CausedBy *errorBody `json:"caused_by,omitempty"`
}

// value is the error as OpenSearch writes it.
func (e *errorBody) value() object {
	v := object{{"type", e.Type}, {"reason", e.Reason}}
	if e.Index != "" {
		v = append(v, member{"index", e.Index})
	}
	if e.CausedBy != nil {
		v = append(v, member{"caused_by", e.CausedBy.value()})
	}
	return v
}

// apply carries out one action; s.mu is held.
func (s *Server) apply(a action) *item {
	it := &item{Index: a.index, ID: a.id}
	fail := func(status int, typ, reason string, cause *errorBody) *item {
		it.Status, it.Error = status, &errorBody{Type: typ, Reason: reason, Index: a.index, CausedBy: cause}
		return it
	}
	if reason := InvalidIndex(a.index); reason != "" {
		return fail(http.StatusBadRequest, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], %s", a.index, reason), nil)
	}
	if left := s.flaky[a.id]; left > 0 {
		s.flaky[a.id] = left - 1
		if s.flakyCode == http.StatusTooManyRequests {
			return fail(s.flakyCode, "rejected_execution_exception", "rejected execution of coordinating operation [shard_detail=[events][0][P]]", nil)
		}
		return fail(s.flakyCode, "unavailable_shards_exception", fmt.Sprintf("[%s][0] primary shard is not active", a.index), nil)
	}
	if s.refused[a.id] {
		return fail(http.StatusBadRequest, "mapper_parsing_exception", "failed to parse field [data.n] of type [long] in document with id '"+a.id+"'",
			&errorBody{Type: "illegal_argument_exception", Reason: "For input string: \"n\""})
	}
	if a.kind != "delete" {
		if reason := notAnObject(a.source); reason != "" {
			return fail(http.StatusBadRequest, "mapper_parsing_exception", "failed to parse", &errorBody{Type: "not_x_content_exception", Reason: reason})
		}
	}
	if a.id == "" {
		s.seqNo++
		a.id = fmt.Sprintf("auto-%020d", s.seqNo)
		it.ID = a.id
	}
	docs := s.docs[a.index]
	if docs == nil {
		docs = map[string]*doc{}
		s.docs[a.index] = docs
	}
	d, exists := docs[a.id]
	s.seqNo++
	it.SeqNo, it.PrimaryTerm = s.seqNo, 1
	switch {
	case a.kind == "delete" && !exists:
		it.Result, it.Status, it.Version = "not_found", http.StatusNotFound, 1
		return it
	case a.kind == "delete":
		delete(docs, a.id)
		it.Result, it.Status, it.Version = "deleted", http.StatusOK, d.version+1
		return it
	case a.kind == "create" && exists:
		return fail(http.StatusConflict, "version_conflict_engine_exception",
			fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", a.id, d.version), nil)
	case exists:
		d.source = a.source
		d.version++
		it.Result, it.Status, it.Version = "updated", http.StatusOK, d.version
	default:
		docs[a.id] = &doc{source: a.source, version: 1}
		it.Result, it.Status, it.Version = "created", http.StatusCreated, 1
	}
	if !s.opts.NoLog {
		s.log = append(s.log, Delivery{Index: a.index, ID: a.id, Source: a.source})
	}
	return it
}

// InvalidIndex says why OpenSearch would refuse an index name, "" when it
// takes it.
func InvalidIndex(name string) string {
	switch {
	case strings.ToLower(name) != name:
		return "must be lowercase"
	case strings.ContainsAny(name, `\/*?"<>| ,#:`):
		return `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, #, :]`
	case strings.HasPrefix(name, "-") || strings.HasPrefix(name, "_") || strings.HasPrefix(name, "+"):
		return "must not start with '_', '-', or '+'"
	case name == "." || name == "..":
		return "must not be '.' or '..'"
	case len(name) > 255:
		return "index name is too long"
	}
	return ""
}

// notAnObject says why a source is not a document, "" when it is one.
func notAnObject(src []byte) string {
	src = bytes.TrimSpace(src)
	switch {
	case len(src) == 0:
		return "document is empty"
	case !json.Valid(src):
		return "the document is not valid JSON"
	case src[0] != '{':
		return "the document is not a JSON object"
	}
	return ""
}

// writeError answers with OpenSearch's error object.
func writeError(w http.ResponseWriter, status int, typ, reason string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":  map[string]any{"root_cause": []errorBody{{Type: typ, Reason: reason}}, "type": typ, "reason": reason},
		"status": status,
	})
}
