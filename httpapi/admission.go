package httpapi

// Admission under overload: an ingest request is refused with 503
// overloaded and Retry-After, before anything of it is stored, for one of
// these reasons, each counted in sluice_ingest_refused_total. The
// reasons are the bounds that keep memory and latency in check:
// Limits.MaxInFlight (server.go: admit, full), the writer's queue by count
// and bytes (sluice.ErrQueueFull) and by the delay of its oldest request
// (sluice.ErrQueueDelay, docs/decisions.md D94), and the budget of request
// bodies being read (bodies.go, D95).
const (
	refusedInFlight   = "in_flight"
	refusedQueueFull  = "queue_full"
	refusedQueueDelay = "queue_delay"
	refusedBodyBudget = "body_budget"
)

// refusalReasons lists the reasons, so that each series exists from the
// start.
var refusalReasons = []string{refusedInFlight, refusedQueueFull, refusedQueueDelay, refusedBodyBudget}

// refuse counts a refusal for reason and returns its answer: 503 with code
// and Retry-After.
func (s *Server) refuse(reason, code, detail string) *Problem {
	s.metrics.refused.WithLabelValues(reason).Inc()
	return s.unavailable(code, detail)
}
