package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
)

// maxWait bounds the long polls of subscription reads and waits.
const maxWait = 60 * time.Second

// putSubscriptionRequest is the body of PUT /v1/subscriptions/{name}.
type putSubscriptionRequest struct {
	Filter sluice.Filter `json:"filter"`
	// Start is "beginning" (the default), "end", or a position.
	Start json.RawMessage `json:"start"`
}

// putSubscription is PUT /v1/subscriptions/{name}: 201 when created, 200
// when it existed (only its filter changes).
func (s *Server) putSubscription(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := sluice.CheckSubscriptionName(name); err != nil {
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_name", err.Error()))
		return
	}
	body, p := readSmallBody(w, r, 64<<10)
	if p != nil {
		writeProblem(w, p)
		return
	}
	req, start, p := decodePutSubscription(body)
	if p != nil {
		writeProblem(w, p)
		return
	}
	st, created, err := s.subs.Put(r.Context(), name, req.Filter, start)
	if err != nil {
		writeProblem(w, s.subscriptionProblem(err))
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Info("subscription created", "subscription", name, "start", st.Start)
	}
	writeJSON(w, status, st)
}

// decodePutSubscription reads and checks a PUT body ({} or empty is a
// subscription to every event from the beginning).
func decodePutSubscription(body []byte) (putSubscriptionRequest, consumer.Start, *Problem) {
	var req putSubscriptionRequest
	var start consumer.Start
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return req, start, problemf(http.StatusBadRequest, "invalid_body", `the body must be {"filter": {"types": [...], "stream_prefix": "...", "category": "..."}, "start": "beginning" | "end" | <position>}: `+err.Error())
		}
	}
	for _, t := range req.Filter.Types {
		if err := sluice.CheckType(t); err != nil {
			return req, start, problemf(http.StatusBadRequest, "invalid_filter", err.Error())
		}
	}
	var named string
	switch {
	case len(req.Start) == 0 || string(req.Start) == "null":
	case json.Unmarshal(req.Start, &named) == nil && named == "beginning":
	case named == "end":
		start.End = true
	default:
		n, err := strconv.ParseUint(string(req.Start), 10, 64)
		if err != nil {
			return req, start, problemf(http.StatusBadRequest, "invalid_body", `start must be "beginning", "end" or a position (a whole number)`)
		}
		start.After = sluice.Position(n)
	}
	return req, start, nil
}

// getSubscription is GET /v1/subscriptions/{name}.
func (s *Server) getSubscription(w http.ResponseWriter, r *http.Request) {
	st, err := s.subs.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		writeProblem(w, s.subscriptionProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// listSubscriptions is GET /v1/subscriptions: their states by name, paged
// with after= and limit=.
func (s *Server) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, p := s.limitParam(q)
	if p != nil {
		writeProblem(w, p)
		return
	}
	states, err := s.subs.List(r.Context(), q.Get("after"), limit)
	if err != nil {
		writeProblem(w, s.subscriptionProblem(err))
		return
	}
	page := struct {
		Subscriptions []consumer.State `json:"subscriptions"`
		Next          *string          `json:"next"`
	}{Subscriptions: states}
	if len(states) == limit {
		q.Set("after", states[len(states)-1].Name)
		page.Next = nextURL(r, q)
	}
	writeJSON(w, http.StatusOK, page)
}

// deleteSubscription is DELETE /v1/subscriptions/{name}: 204.
func (s *Server) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	if err := s.subs.Delete(r.Context(), r.PathValue("name")); err != nil {
		writeProblem(w, s.subscriptionProblem(err))
		return
	}
	s.log.Info("subscription deleted", "subscription", r.PathValue("name"))
	w.WriteHeader(http.StatusNoContent)
}

// subscriptionEvents is GET /v1/subscriptions/{name}/events: the events
// after the checkpoint, long-polling up to wait= when there are none, with
// the position to acknowledge once they are processed.
func (s *Server) subscriptionEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, p := s.limitParam(q)
	if p != nil {
		writeProblem(w, p)
		return
	}
	reader, p := readerParam(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	s.serveBatch(w, r, reader, limit)
}

// serveBatch answers with the next events of the subscription for reader,
// long-polling up to wait= (read from the query).
func (s *Server) serveBatch(w http.ResponseWriter, r *http.Request, reader string, limit int) {
	wait, p := durationParam(r.URL.Query(), "wait", 0)
	if p != nil {
		writeProblem(w, p)
		return
	}
	// A drain ends the long poll early, with what there is: the reader
	// polls again, elsewhere.
	ctx, stop := context.WithCancel(r.Context())
	defer context.AfterFunc(s.stopping, stop)()
	defer stop()
	b, err := s.subs.Next(ctx, r.PathValue("name"), reader, limit, wait)
	if errors.Is(err, context.Canceled) && r.Context().Err() == nil {
		b, err = s.subs.Next(r.Context(), r.PathValue("name"), reader, limit, 0)
	}
	if err != nil {
		writeProblem(w, s.subscriptionProblem(err))
		return
	}
	writeEvents(w, b.Events, fmt.Sprintf(`"position":%d,"checkpoint":%d`, b.Position, b.Checkpoint))
}

// ackSubscription is POST /v1/subscriptions/{name}/ack with
// {"position": p}: the checkpoint moves to p. With next=N (and wait=) the
// answer is also the next batch of at most N events, as GET …/events would
// give it: a reader acknowledges and fetches in one round trip.
func (s *Server) ackSubscription(w http.ResponseWriter, r *http.Request) {
	reader, p := readerParam(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	next := 0
	if v := r.URL.Query().Get("next"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.cfg.Limits.MaxPageSize {
			writeProblem(w, problemf(http.StatusBadRequest, "invalid_parameter", "next must be 1 to "+strconv.Itoa(s.cfg.Limits.MaxPageSize)))
			return
		}
		next = n
	}
	body, p := readSmallBody(w, r, 1<<10)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var req struct {
		Position *sluice.Position `json:"position"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Position == nil {
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_body", `the body must be {"position": p}, p a whole number`))
		return
	}
	checkpoint, err := s.subs.Ack(r.Context(), r.PathValue("name"), reader, *req.Position)
	if err != nil {
		writeProblem(w, s.subscriptionProblem(err))
		return
	}
	if next > 0 {
		s.serveBatch(w, r, reader, next)
		return
	}
	writeJSON(w, http.StatusOK, map[string]sluice.Position{"checkpoint": checkpoint})
}

// releaseSubscription is DELETE /v1/subscriptions/{name}/reader?reader=:
// the reader gives the subscription up (204), so that another can take it
// at once. Releasing a subscription the reader does not hold does nothing.
func (s *Server) releaseSubscription(w http.ResponseWriter, r *http.Request) {
	reader, p := readerParam(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	if err := s.subs.Release(r.Context(), r.PathValue("name"), reader); err != nil {
		writeProblem(w, s.subscriptionProblem(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// waitSubscription is GET /v1/subscriptions/{name}/wait?position=&timeout=:
// 200 once the subscription has processed everything up to position, 408
// at the timeout.
func (s *Server) waitSubscription(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("position") == "" {
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_parameter", "position is required"))
		return
	}
	pos, p := uintParam(q, "position")
	if p != nil {
		writeProblem(w, p)
		return
	}
	timeout, p := durationParam(q, "timeout", 5*time.Second)
	if p != nil {
		writeProblem(w, p)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	defer context.AfterFunc(s.stopping, cancel)()
	checkpoint, err := s.subs.Wait(ctx, r.PathValue("name"), sluice.Position(pos))
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]sluice.Position{"checkpoint": checkpoint})
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		writeProblem(w, problemf(http.StatusRequestTimeout, "wait_timeout",
			fmt.Sprintf("the subscription had not processed position %d after %s; its checkpoint is %d", pos, timeout, checkpoint)))
	case errors.Is(err, context.Canceled) && s.stopping.Err() != nil:
		writeProblem(w, s.unavailable("draining", "the server is shutting down"))
	default:
		writeProblem(w, s.subscriptionProblem(err))
	}
}

// subscriptionProblem maps the errors of subscriptions to their answers.
func (s *Server) subscriptionProblem(err error) *Problem {
	var held *sluice.LeaseHeldError
	switch {
	case errors.Is(err, sluice.ErrSubscriptionNotFound):
		return problemf(http.StatusNotFound, "subscription_not_found", "no subscription has this name")
	case errors.As(err, &held):
		p := problemf(http.StatusConflict, "subscription_busy",
			fmt.Sprintf("reader %q holds the subscription until %s; one reader at a time", held.Holder, held.Expires.Format(time.RFC3339Nano)))
		p.RetryAfter = max(time.Until(held.Expires), time.Second)
		return p
	case errors.Is(err, consumer.ErrBeyondHead):
		return problemf(http.StatusBadRequest, "invalid_position", err.Error())
	}
	return s.storeProblem(err)
}

// readerParam reads reader=, the name of a subscription's reader; the
// key's name by default.
func readerParam(r *http.Request) (string, *Problem) {
	reader := r.URL.Query().Get("reader")
	if reader == "" {
		return keyFrom(r).Name, nil
	}
	if len(reader) > 128 {
		return "", problemf(http.StatusBadRequest, "invalid_parameter", "reader must be at most 128 bytes")
	}
	return reader, nil
}

// durationParam reads a duration like 500ms or 30s, at most maxWait.
func durationParam(q url.Values, name string, def time.Duration) (time.Duration, *Problem) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxWait {
		return 0, problemf(http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("%s must be a duration like 500ms or 30s, at most %s", name, maxWait))
	}
	return d, nil
}
