package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/schema"
)

// What happens to an event whose type has no schema (SchemaPolicy).
const (
	UnknownAccept     = "accept"
	UnknownReject     = "reject"
	UnknownQuarantine = "quarantine"
)

// SchemaPolicy says what the edge does with events that fail their type's
// schema or whose type has none, and bounds the quarantine.
type SchemaPolicy struct {
	// UnknownTypes is what happens to an event whose type has no schema:
	// accept (stored unchecked), reject (reported as invalid) or quarantine
	// (kept in the quarantine, not stored). Default accept.
	UnknownTypes string `yaml:"unknown_types"`
	// QuarantineDurable keeps the events rejected in durable mode in the
	// quarantine as well; those rejected in async mode, whose sender may
	// never read the answer, always are. Default false.
	QuarantineDurable bool `yaml:"quarantine_durable"`
	// QuarantineMaxEvents bounds the quarantine: the oldest events go
	// first (it may exceed the bound by a tenth between trims). Default
	// 100000.
	QuarantineMaxEvents int `yaml:"quarantine_max_events"`
	// QuarantineMaxAge is how long a quarantined event is kept. Default
	// 168h (a week).
	QuarantineMaxAge time.Duration `yaml:"quarantine_max_age"`
}

// schemaVersionInfo is one entry of GET /v1/schemas: the document is left
// out.
type schemaVersionInfo struct {
	Type      string    `json:"type"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
}

// putSchema is PUT /v1/schemas/{type}: 201 with the new version, or 200
// with the latest when it is the same document.
func (s *Server) putSchema(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if err := sluice.CheckType(typ); err != nil {
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_type", err.Error()))
		return
	}
	doc, p := readSmallBody(w, r, int64(s.cfg.Limits.MaxEventBytes))
	if p != nil {
		writeProblem(w, p)
		return
	}
	v, created, err := s.schemas.Put(r.Context(), typ, doc)
	if errors.Is(err, schema.ErrInvalidSchema) {
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_schema", err.Error()))
		return
	}
	if err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Info("schema registered", "type", typ, "version", v.Version)
	}
	writeJSON(w, status, v)
}

// listSchemas is GET /v1/schemas: every type with its latest version.
func (s *Server) listSchemas(w http.ResponseWriter, r *http.Request) {
	vs, err := s.store.LatestSchemas(r.Context())
	if err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	list := make([]schemaVersionInfo, len(vs))
	for i, v := range vs {
		list[i] = schemaVersionInfo{Type: v.Type, Version: v.Version, CreatedAt: v.CreatedAt}
	}
	writeJSON(w, http.StatusOK, map[string][]schemaVersionInfo{"schemas": list})
}

// getSchema is GET /v1/schemas/{type} (the latest version) and
// GET /v1/schemas/{type}/versions/{version}.
func (s *Server) getSchema(w http.ResponseWriter, r *http.Request) {
	version := 0
	if v := r.PathValue("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeProblem(w, problemf(http.StatusBadRequest, "invalid_parameter", "version must be a whole number from 1"))
			return
		}
		version = n
	}
	v, err := s.store.Schema(r.Context(), r.PathValue("type"), version)
	if err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// checkSchemas checks the data of valid's events (those of the items
// without Err, in order) against their types' schemas, removes the events
// that fail from valid, and returns their problems, by index. The failed
// events are returned for the quarantine when keep is set; events of a
// type without a schema under the quarantine policy always are.
func (s *Server) checkSchemas(items []Item, valid *sluice.AppendRequest, key string, keep bool) (rejected []EventProblem, quarantine []sluice.Quarantined) {
	kept := valid.Events[:0]
	next := 0
	counts := validationCounts{}
	defer counts.add(s.metrics.validated)
	for i := range items {
		if items[i].Err != nil {
			continue
		}
		e := valid.Events[next]
		next++
		violations, unknown := s.schemaViolations(&e, counts)
		if violations == nil {
			kept = append(kept, e)
			continue
		}
		for _, v := range violations {
			rejected = append(rejected, EventProblem{Index: i, ID: e.ID, Path: v.Path, Keyword: v.Keyword, Message: v.Message})
		}
		if keep || (unknown && s.cfg.Schemas.UnknownTypes == UnknownQuarantine) {
			quarantine = append(quarantine, sluice.Quarantined{Event: e, Reasons: violations, Key: key})
		}
	}
	valid.Events = kept
	return rejected, quarantine
}

// schemaViolations checks e against its type's schema, or applies the
// policy for types without one (unknown is then true); nil means it
// passes.
func (s *Server) schemaViolations(e *sluice.Event, counts validationCounts) (violations []sluice.Violation, unknown bool) {
	known, violations := s.schemas.Validate(e.Type, e.Data)
	if known {
		outcome := "valid"
		if violations != nil {
			outcome = "invalid"
		}
		counts[[2]string{e.Type, outcome}]++
		return violations, false
	}
	counts[[2]string{unregisteredType, "no_schema"}]++
	if s.cfg.Schemas.UnknownTypes == UnknownAccept {
		return nil, true
	}
	return []sluice.Violation{{Path: "/type", Message: "no schema is registered for type " + strconv.Quote(e.Type)}}, true
}

// validationCounts counts a request's validations by type and outcome, so
// that the metric is updated once per pair rather than once per event.
type validationCounts map[[2]string]int

func (c validationCounts) add(m *prometheus.CounterVec) {
	for labels, n := range c {
		m.WithLabelValues(labels[0], labels[1]).Add(float64(n))
	}
}
