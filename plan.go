package sluice

import (
	"slices"
	"time"
)

// CommitPlan works out, in memory, what one Append stores and answers. A
// backend fills Head, Stored and Versions from the log inside its
// transaction, calls Add, then writes Events and Streams. Every backend
// thereby applies the same rules: duplicates by id, expected versions, and
// positions and versions in order.
type CommitPlan struct {
	// Head is the log's head; Add moves it past the events to store.
	Head Position
	// Stored holds the events already in the log under the requests' ids
	// (Add adds those it plans). A backend may leave out ids it knows to be
	// new.
	Stored map[string]Appended
	// Versions holds the streams' versions (absent: no events); Add moves
	// them.
	Versions map[string]uint64
	// RecordedAt is the commit time of the events to store.
	RecordedAt time.Time

	// Results has one entry per request given to Add.
	Results []AppendResult
	// Events are the events to store, in position order.
	Events []Event
	// Streams is the new state of each stream written.
	Streams map[string]StreamInfo
}

// NewCommitPlan starts a plan at head.
func NewCommitPlan(head Position, recordedAt time.Time) *CommitPlan {
	return &CommitPlan{
		Head:       head,
		Stored:     map[string]Appended{},
		Versions:   map[string]uint64{},
		RecordedAt: recordedAt,
		Streams:    map[string]StreamInfo{},
	}
}

// Add plans the requests in order: each sees what the ones before it
// stored.
func (p *CommitPlan) Add(reqs []AppendRequest) {
	n := 0
	for i := range reqs {
		n += len(reqs[i].Events)
	}
	// Sized once for the events to come: grown by append and by inserts,
	// the slice and the map were copied about ten times over a commit of 500.
	p.Events = slices.Grow(p.Events, n)
	p.Results = slices.Grow(p.Results, len(reqs))
	if len(p.Stored) == 0 {
		p.Stored = make(map[string]Appended, n)
	}
	for i := range reqs {
		p.Results = append(p.Results, p.request(&reqs[i]))
	}
}

// request plans one request. A stream request whose events are all
// duplicates is a retry: it succeeds whatever the stream's version now.
func (p *CommitPlan) request(req *AppendRequest) AppendResult {
	if req.Stream != "" && !p.allStored(req.Events) {
		if err := req.Expected.Check(req.Stream, p.Versions[req.Stream]); err != nil {
			return AppendResult{Err: err}
		}
	}
	res := AppendResult{Events: make([]Appended, len(req.Events))}
	for i := range req.Events {
		res.Events[i] = p.event(&req.Events[i])
	}
	return res
}

// allStored reports whether all the ids of events are stored.
func (p *CommitPlan) allStored(events []Event) bool {
	for i := range events {
		if _, ok := p.Stored[events[i].ID]; !ok {
			return false
		}
	}
	return true
}

// event plans one event: a duplicate, or the next position and the next
// version of its stream.
func (p *CommitPlan) event(e *Event) Appended {
	if a, ok := p.Stored[e.ID]; ok {
		a.Duplicate = true
		return a
	}
	p.Head++
	version := p.Versions[e.Stream] + 1
	p.Versions[e.Stream] = version
	p.Streams[e.Stream] = StreamInfo{Stream: e.Stream, Version: version, LastPosition: p.Head}

	stored := *e
	stored.Position, stored.Version, stored.RecordedAt = p.Head, version, p.RecordedAt
	p.Events = append(p.Events, stored)

	a := Appended{ID: e.ID, Position: p.Head, Version: version}
	p.Stored[e.ID] = a
	return a
}
