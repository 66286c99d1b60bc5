package httpapi

import (
	"net/http"
	"strconv"
	"time"
)

// EventProblem says what is wrong with one event of a request.
type EventProblem struct {
	// Index is the event's place in the request, from 0.
	Index int `json:"index"`
	// ID is the event's id as sent, if any.
	ID string `json:"id,omitempty"`
	// Path is the JSON pointer of the offending value within the event
	// ("/type", "/data/price"), "" for the whole event.
	Path string `json:"path"`
	// Keyword is the JSON Schema keyword that failed ("minimum",
	// "required"), for schema violations.
	Keyword string `json:"keyword,omitempty"`
	// Message says what is wrong, for a developer.
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem: every error answer of the API is one, as
// application/problem+json, with a stable snake_case Code.
type Problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Title  string `json:"title"`
	Detail string `json:"detail,omitempty"`
	// Errors lists the events at fault, for validation problems.
	Errors []EventProblem `json:"errors,omitempty"`
	// CurrentVersion is the stream's version, for wrong_expected_version.
	CurrentVersion *uint64 `json:"current_version,omitempty"`
	// FirstPosition is the log's first position, for gone.
	FirstPosition *uint64 `json:"first_position,omitempty"`
	// RetryAfter, when set, is sent as Retry-After (503 and 429).
	RetryAfter time.Duration `json:"-"`
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// problemf makes a problem; title is the status text.
func problemf(status int, code, detail string) *Problem {
	return &Problem{Status: status, Code: code, Title: http.StatusText(status), Detail: detail}
}

// writeProblem answers with p.
func writeProblem(w http.ResponseWriter, p *Problem) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.RetryAfter+time.Second-1)/time.Second)))
	}
	writeBody(w, p.Status, problemContentType, p.appendJSON)
}

// ServeHTTP answers with p, so that a problem can stand for a handler (cmd
// answers with one while a restarted process takes the store over).
func (p *Problem) ServeHTTP(w http.ResponseWriter, _ *http.Request) { writeProblem(w, p) }
