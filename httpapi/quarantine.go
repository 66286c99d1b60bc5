package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// replayPage is how many quarantined events a replay reads, checks and
// appends at a time.
const replayPage = 500

// quarantine keeps rejected events in the store's quarantine, and trims it
// once a tenth of its bound has been added since the last trim.
func (s *Server) quarantine(ctx context.Context, qs []sluice.Quarantined) error {
	if err := s.store.AddQuarantined(ctx, qs); err != nil {
		return err
	}
	for i := range qs {
		s.metrics.quarantined.WithLabelValues(s.typeLabel(qs[i].Event.Type)).Inc()
	}
	p := s.cfg.Schemas
	if s.sinceTrim.Add(int64(len(qs))) < int64(max(1, p.QuarantineMaxEvents/10)) {
		return nil
	}
	s.sinceTrim.Store(0)
	n, err := s.store.TrimQuarantine(ctx, p.QuarantineMaxEvents, time.Now().Add(-p.QuarantineMaxAge))
	if err != nil {
		s.log.Warn("trim quarantine", "err", err) // the next trim tries again
	} else if n > 0 {
		s.log.Info("quarantine trimmed", "removed", n)
	}
	return nil
}

// typeLabel is the type label of a metric: the type when it has a schema,
// else unregisteredType, so that clients cannot grow the metrics without
// bound by sending made-up types.
func (s *Server) typeLabel(typ string) string {
	if s.schemas.Known(typ) {
		return typ
	}
	return unregisteredType
}

// unregisteredType labels the metrics of events whose type has no schema.
const unregisteredType = "_unregistered"

// listQuarantine is GET /v1/quarantine: ?type=a,b&since=&until=&after=&limit=.
func (s *Server) listQuarantine(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query, p := quarantineParams(q)
	if p != nil {
		writeProblem(w, p)
		return
	}
	limit, after, p := s.pageParams(q)
	if p != nil {
		writeProblem(w, p)
		return
	}
	query.Limit, query.After = limit, int64(after)
	list, err := s.store.ListQuarantined(r.Context(), query)
	if err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	if list == nil {
		list = []sluice.Quarantined{}
	}
	next := query.After
	if len(list) > 0 {
		next = list[len(list)-1].Seq
	}
	writeJSON(w, http.StatusOK, struct {
		Events    []sluice.Quarantined `json:"events"`
		NextAfter int64                `json:"next_after"`
	}{list, next})
}

// quarantineParams reads type=, since= and until= (RFC 3339).
func quarantineParams(q url.Values) (sluice.QuarantineQuery, *Problem) {
	query := sluice.QuarantineQuery{Types: filterParams(q).Types}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"since", &query.Since}, {"until", &query.Until}} {
		if v := q.Get(t.name); v != "" {
			at, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return query, problemf(http.StatusBadRequest, "invalid_parameter", t.name+" must be an RFC 3339 time such as 2026-11-28T09:00:00Z")
			}
			*t.to = at
		}
	}
	return query, nil
}

// replayRequest selects the quarantined events to replay: by ids, or by
// type and time; {} selects all. Limit bounds how many one call takes.
type replayRequest struct {
	IDs   []string  `json:"ids"`
	Type  string    `json:"type"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	Limit int       `json:"limit"`
}

// replayFailure is a quarantined event that still fails, with its new
// problems.
type replayFailure struct {
	Seq    int64              `json:"seq"`
	ID     string             `json:"id"`
	Type   string             `json:"type"`
	Errors []sluice.Violation `json:"errors"`
}

// replayAnswer is the answer of POST /v1/quarantine/replay. More says that
// the limit stopped it before the selection was exhausted.
type replayAnswer struct {
	Replayed   int             `json:"replayed"`
	Duplicates int             `json:"duplicates"`
	Failed     []replayFailure `json:"failed"`
	Position   sluice.Position `json:"position,omitempty"`
	More       bool            `json:"more"`
}

// replayQuarantine is POST /v1/quarantine/replay: the selected events are
// checked against today's schemas; those that pass are appended (durably)
// and leave the quarantine, the others stay and are reported.
func (s *Server) replayQuarantine(w http.ResponseWriter, r *http.Request) {
	body, p := readSmallBody(w, r, 1<<20)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var req replayRequest
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeProblem(w, problemf(http.StatusBadRequest, "invalid_body", `the body must be {"ids": [...]} or {"type": ..., "since": ..., "until": ...}: `+err.Error()))
			return
		}
	}
	maxLimit := s.cfg.Limits.MaxEvents
	switch {
	case req.Limit == 0:
		req.Limit = min(1000, maxLimit)
	case req.Limit < 0 || req.Limit > maxLimit:
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_body", "limit must be 1 to "+strconv.Itoa(maxLimit)))
		return
	}
	query := sluice.QuarantineQuery{IDs: req.IDs, Since: req.Since, Until: req.Until}
	if req.Type != "" {
		query.Types = []string{req.Type}
	}
	answer := replayAnswer{Failed: []replayFailure{}}
	for taken := 0; taken < req.Limit; {
		query.Limit = min(replayPage, req.Limit-taken)
		page, err := s.store.ListQuarantined(r.Context(), query)
		if err != nil {
			writeProblem(w, s.storeProblem(err))
			return
		}
		if len(page) == 0 {
			break
		}
		taken += len(page)
		query.After = page[len(page)-1].Seq
		if err := s.replayPage(r.Context(), page, &answer); err != nil {
			writeProblem(w, s.storeProblem(err))
			return
		}
		answer.More = len(page) == query.Limit && taken == req.Limit
	}
	writeJSON(w, http.StatusOK, answer)
}

// replayPage checks one page of quarantined events, appends those that now
// pass and removes them from the quarantine. Should the removal fail, a
// later replay finds them stored already (same ids) and counts them as
// duplicates.
func (s *Server) replayPage(ctx context.Context, page []sluice.Quarantined, answer *replayAnswer) error {
	var req sluice.AppendRequest
	var seqs []int64
	counts := validationCounts{}
	defer counts.add(s.metrics.validated)
	for _, q := range page {
		if violations, _ := s.schemaViolations(&q.Event, counts); violations != nil {
			answer.Failed = append(answer.Failed, replayFailure{Seq: q.Seq, ID: q.Event.ID, Type: q.Event.Type, Errors: violations})
			continue
		}
		req.Events = append(req.Events, q.Event)
		seqs = append(seqs, q.Seq)
	}
	if len(seqs) == 0 {
		return nil
	}
	res, err := s.writer.Append(ctx, req)
	if err != nil {
		return err
	}
	for _, a := range res.Events {
		if a.Duplicate {
			answer.Duplicates++
		} else {
			answer.Replayed++
		}
	}
	answer.Position = max(answer.Position, res.Position())
	s.metrics.events.WithLabelValues("accepted").Add(float64(answer.Replayed))
	s.metrics.events.WithLabelValues("duplicate").Add(float64(answer.Duplicates))
	return s.store.DeleteQuarantined(ctx, seqs)
}
