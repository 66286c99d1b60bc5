package httpapi

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// The answers of the ingest routes and every problem are written by hand
// into pooled buffers: encoding/json found their shape by reflection on
// every request, and its Encoder cost allocations of its own. Each
// appendJSON writes what encoding/json's Encoder with SetEscapeHTML(false)
// writes for the same value, byte for byte (TestAnswers_EncodingJSON).

// bodies pools the buffers answers are written in. A buffer that grew past
// maxPooledBody (a long list of rejected events) is left to the collector
// rather than kept.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBody = 64 << 10

// Header values shared by every answer: assigned, not Set, they cost no
// allocation per request. net/http only reads them.
var (
	jsonContentType    = []string{"application/json"}
	problemContentType = []string{"application/problem+json"}
	noStore            = []string{"no-store"}
)

// writeBody answers status with the JSON that appendBody appends and a
// newline (as json.Encoder ends a value), as contentType.
func writeBody(w http.ResponseWriter, status int, contentType []string, appendBody func([]byte) []byte) {
	bp := bodies.Get().(*[]byte)
	b := append(appendBody((*bp)[:0]), '\n')
	h := w.Header()
	h["Content-Type"] = contentType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	_, _ = w.Write(b)
	if cap(b) <= maxPooledBody {
		*bp = b
		bodies.Put(bp)
	}
}

// appendJSON appends the answer of POST /v1/events.
func (a *ingestAnswer) appendJSON(b []byte) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(a.Accepted), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(a.Duplicates), 10)
	b = append(b, `,"rejected":`...)
	b = appendProblems(b, a.Rejected)
	b = append(b, `,"quarantined":`...)
	b = strconv.AppendInt(b, int64(a.Quarantined), 10)
	if a.Position != 0 {
		b = append(b, `,"position":`...)
		b = strconv.AppendUint(b, uint64(a.Position), 10)
	}
	return append(b, '}')
}

// appendJSON appends the answer of the Segment routes.
func (a *segmentAnswer) appendJSON(b []byte) []byte {
	b = append(b, `{"success":`...)
	b = strconv.AppendBool(b, a.Success)
	b = append(b, `,"accepted":`...)
	b = strconv.AppendInt(b, int64(a.Accepted), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(a.Duplicates), 10)
	b = append(b, `,"rejected":`...)
	b = appendProblems(b, a.Rejected)
	return append(b, '}')
}

// appendJSON appends the answer of POST /v1/streams/{stream}/events.
func (a *appendAnswer) appendJSON(b []byte) []byte {
	b = append(b, `{"position":`...)
	b = strconv.AppendUint(b, uint64(a.Position), 10)
	b = append(b, `,"version":`...)
	b = strconv.AppendUint(b, a.Version, 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(a.Duplicates), 10)
	return append(b, '}')
}

// appendJSON appends the problem as writeProblem sends it: its type URL
// first, then its members.
func (p *Problem) appendJSON(b []byte) []byte {
	b = jsonscan.AppendMember(b, `{"type":`, "https://sluice.dev/problems/"+p.Code)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	b = jsonscan.AppendMember(b, `,"code":`, p.Code)
	b = jsonscan.AppendMember(b, `,"title":`, p.Title)
	if p.Detail != "" {
		b = jsonscan.AppendMember(b, `,"detail":`, p.Detail)
	}
	if len(p.Errors) > 0 {
		b = append(b, `,"errors":`...)
		b = appendProblems(b, p.Errors)
	}
	if p.CurrentVersion != nil {
		b = append(b, `,"current_version":`...)
		b = strconv.AppendUint(b, *p.CurrentVersion, 10)
	}
	if p.FirstPosition != nil {
		b = append(b, `,"first_position":`...)
		b = strconv.AppendUint(b, *p.FirstPosition, 10)
	}
	return append(b, '}')
}

// appendProblems appends a list of event problems (nil: null).
func appendProblems(b []byte, ps []EventProblem) []byte {
	if ps == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		b = ps[i].appendJSON(b)
	}
	return append(b, ']')
}

// appendJSON appends one event's problem.
func (p *EventProblem) appendJSON(b []byte) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(p.Index), 10)
	if p.ID != "" {
		b = jsonscan.AppendMember(b, `,"id":`, p.ID)
	}
	b = jsonscan.AppendMember(b, `,"path":`, p.Path)
	if p.Keyword != "" {
		b = jsonscan.AppendMember(b, `,"keyword":`, p.Keyword)
	}
	b = jsonscan.AppendMember(b, `,"message":`, p.Message)
	return append(b, '}')
}
