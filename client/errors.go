package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

var (
	// ErrWaitTimeout: Wait's timeout passed before the subscription had
	// processed the position (408, code wait_timeout).
	ErrWaitTimeout = errors.New("wait timeout")
	// ErrSubscriptionBusy: another reader holds the subscription (409, code
	// subscription_busy); its lease expires after the Error's RetryAfter.
	ErrSubscriptionBusy = errors.New("subscription busy")
)

// Error is an error answer of the server: an RFC 9457 problem with a
// stable Code. Test it with errors.Is against the sentinels of the root
// package and of this one, or with errors.As for its details:
//
//	var apiErr *client.Error
//	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized { … }
type Error struct {
	// Status is the HTTP status.
	Status int
	// Code is the stable snake_case code ("wrong_expected_version",
	// "stream_not_found", "invalid_events", "unknown_key", …); empty when
	// the answer was not a problem (a proxy's error page).
	Code string
	// Title is the status text; Detail says what went wrong, for a
	// developer.
	Title, Detail string
	// Errors lists the events at fault of a validation problem, one entry
	// per problem (an event may have several).
	Errors []FieldError
	// CurrentVersion is the stream's version (0: no stream) when Code is
	// wrong_expected_version.
	CurrentVersion uint64
	// RetryAfter is how long the server asks to wait before trying again
	// (429, 503, subscription_busy); 0 when it does not say.
	RetryAfter time.Duration

	// wrapped is what Unwrap returns: a *sluice.WrongExpectedVersionError
	// for wrong_expected_version.
	wrapped error
}

// FieldError says what is wrong with one event of a request.
type FieldError struct {
	// Index is the event's place in the request, from 0.
	Index int `json:"index"`
	// ID is the event's id as sent, if any.
	ID string `json:"id,omitempty"`
	// Path is the JSON pointer of the offending value within the event
	// ("/type", "/data/price"); "" for the whole event.
	Path string `json:"path"`
	// Keyword is the JSON Schema keyword that failed ("minimum",
	// "required"), for schema violations.
	Keyword string `json:"keyword,omitempty"`
	// Message says what is wrong, for a developer.
	Message string `json:"message"`
}

func (f FieldError) String() string {
	s := "event " + strconv.Itoa(f.Index)
	if f.Path != "" {
		s += " " + f.Path
	}
	return s + ": " + f.Message
}

func (e *Error) Error() string {
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	code := e.Code
	if code == "" {
		code = strings.ToLower(strings.ReplaceAll(http.StatusText(e.Status), " ", "_"))
	}
	s := fmt.Sprintf("sluice: %d %s: %s", e.Status, code, msg)
	if len(e.Errors) > 0 {
		s += " (" + e.Errors[0].String()
		if len(e.Errors) > 1 {
			s += fmt.Sprintf(", and %d more", len(e.Errors)-1)
		}
		s += ")"
	}
	return s
}

// sentinels maps a problem's code to the sentinel errors.Is matches.
var sentinels = map[string]error{
	"wrong_expected_version": sluice.ErrWrongExpectedVersion,
	"stream_not_found":       sluice.ErrStreamNotFound,
	"subscription_not_found": sluice.ErrSubscriptionNotFound,
	"schema_not_found":       sluice.ErrSchemaNotFound,
	"invalid_events":         sluice.ErrInvalidEvent,
	"invalid_event":          sluice.ErrInvalidEvent,
	"store_unavailable":      sluice.ErrUnavailable,
	"storage_full":           sluice.ErrStorageFull,
	"wait_timeout":           ErrWaitTimeout,
	"subscription_busy":      ErrSubscriptionBusy,
}

// Is reports whether the problem's code stands for target:
//
//	wrong_expected_version          sluice.ErrWrongExpectedVersion
//	stream_not_found                sluice.ErrStreamNotFound
//	subscription_not_found          sluice.ErrSubscriptionNotFound
//	schema_not_found                sluice.ErrSchemaNotFound
//	invalid_events, invalid_event   sluice.ErrInvalidEvent
//	store_unavailable               sluice.ErrUnavailable
//	storage_full                    sluice.ErrStorageFull (and ErrUnavailable)
//	wait_timeout                    ErrWaitTimeout
//	subscription_busy               ErrSubscriptionBusy
func (e *Error) Is(target error) bool {
	s, ok := sentinels[e.Code]
	return ok && (s == target || errors.Is(s, target))
}

// Unwrap returns, for wrong_expected_version answers to Append, a
// *sluice.WrongExpectedVersionError with the stream, the expectation and
// the current version; nil otherwise.
func (e *Error) Unwrap() error { return e.wrapped }

// Rejections groups Errors by event, for the invalid_events answer of
// Ingest.
func (e *Error) Rejections() []Rejection { return groupRejections(e.Errors) }

// retryable reports whether the same request may succeed later: the
// server is overloaded, draining or cannot reach its store, or it limits
// the key's rate.
func (e *Error) retryable() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// problem is the JSON of an error answer.
type problem struct {
	Type           string       `json:"type"`
	Title          string       `json:"title"`
	Status         int          `json:"status"`
	Detail         string       `json:"detail"`
	Code           string       `json:"code"`
	Errors         []FieldError `json:"errors"`
	CurrentVersion *uint64      `json:"current_version"`
}

// readError makes the *Error of a failed answer.
func readError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
	var p problem
	if json.Unmarshal(body, &p) == nil && p.Code != "" {
		e.Code, e.Detail, e.Errors = p.Code, p.Detail, p.Errors
		if p.Title != "" {
			e.Title = p.Title
		}
		if p.CurrentVersion != nil {
			e.CurrentVersion = *p.CurrentVersion
		}
		return e
	}
	// Not a problem: a proxy's or a load balancer's page.
	e.Detail = strings.TrimSpace(string(body))
	if len(e.Detail) > 200 {
		e.Detail = strings.ToValidUTF8(e.Detail[:200], "") + "…"
	}
	return e
}

// retryAfter reads Retry-After: seconds, or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return time.Duration(max(n, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
