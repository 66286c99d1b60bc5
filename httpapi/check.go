package httpapi

import (
	"errors"
	"net/http"
	"slices"

	"github.com/sluicehq/sluice"
)

// eventLimits are the store's rules for events the decoder has parsed: their
// data and metadata are well-formed JSON already.
func (l Limits) eventLimits() sluice.Limits {
	return sluice.Limits{MaxEventBytes: l.MaxEventBytes, JSONChecked: true}
}

// CheckItems checks, one event at a time, every item that has no Err against
// the envelope's rules (sluice.Limits.Prepare), filling in missing ids and
// streams in place, and sets Err on the items whose event breaks a rule.
func CheckItems(items []Item, l Limits) {
	limits := l.eventLimits()
	for i := range items {
		it := &items[i]
		if it.Err != nil {
			continue
		}
		reqs := []sluice.AppendRequest{{Events: []sluice.Event{it.Event}}}
		if err := limits.Prepare(reqs); err != nil {
			it.Err = eventProblem(i, it.Event.ID, err)
			continue
		}
		it.Event = reqs[0].Events[0]
	}
}

// Validate checks the items' events against the envelope's rules and
// returns the valid ones, in order, with their ids and streams filled in, as
// a request the writer will not check again, and the problems of the
// others, in order. Items are updated in place as by CheckItems. When no
// item has an Err, it first checks all the events as one request, and
// checks them one by one only when that fails.
func Validate(items []Item, l Limits) (valid sluice.AppendRequest, rejected []EventProblem) {
	limits := l.eventLimits()
	if req, ok := prepareAll(items, limits); ok {
		return req, nil
	}
	CheckItems(items, l)
	reqs := []sluice.AppendRequest{{}}
	for _, it := range items {
		if it.Err != nil {
			rejected = append(rejected, *it.Err)
		} else {
			reqs[0].Events = append(reqs[0].Events, it.Event)
		}
	}
	if len(reqs[0].Events) > 0 {
		_ = limits.Prepare(reqs) // each passed alone: this marks the request checked
	}
	return reqs[0], rejected
}

// prepareAll prepares the events of items as one request, and reports
// whether all of them passed; then the items hold the prepared events too.
func prepareAll(items []Item, limits sluice.Limits) (sluice.AppendRequest, bool) {
	if len(items) == 0 {
		return sluice.AppendRequest{}, false
	}
	events := make([]sluice.Event, len(items))
	for i, it := range items {
		if it.Err != nil {
			return sluice.AppendRequest{}, false
		}
		events[i] = it.Event
	}
	reqs := []sluice.AppendRequest{{Events: events}}
	if limits.Prepare(reqs) != nil {
		return sluice.AppendRequest{}, false
	}
	for i := range items {
		items[i].Event = events[i]
	}
	return reqs[0], true
}

// eventProblem turns an error of Prepare into the problem of the item at
// index whose id was sent as id.
func eventProblem(index int, id string, err error) *EventProblem {
	p := &EventProblem{Index: index, ID: id, Message: err.Error()}
	var ee *sluice.EventError
	if errors.As(err, &ee) {
		p.Message = ee.Reason
		if ee.Field != "size" {
			p.Path = "/" + ee.Field
		}
	}
	return p
}

// check checks the items' events against the envelope's rules, then
// against their types' schemas, and returns the valid ones as a checked
// request, the problems of the others by index, and the rejected events to
// keep in the quarantine: those the schemas rejected when keep is set, and
// those of types without a schema under the quarantine policy.
func (s *Server) check(r *http.Request, items []Item, keep bool) (sluice.AppendRequest, []EventProblem, []sluice.Quarantined) {
	_, span := s.span(r, "validate")
	valid, rejected := Validate(items, s.cfg.Limits)
	bySchema, quarantine := s.checkSchemas(items, &valid, keyFrom(r).Name, keep)
	if len(bySchema) > 0 {
		rejected = append(rejected, bySchema...)
		slices.SortStableFunc(rejected, func(a, b EventProblem) int { return a.Index - b.Index })
	}
	traceEvents(span, len(items), len(rejected))
	span.End()
	return valid, rejected, quarantine
}
