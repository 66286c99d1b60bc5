package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
)

// metrics are the edge's Prometheus metrics, in a registry of the server's
// own.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec   // route, code
	latency  *prometheus.HistogramVec // route
	events   *prometheus.CounterVec   // outcome: accepted, duplicate, rejected
	commits  prometheus.Histogram     // events per commit
	commitS  prometheus.Histogram     // seconds per commit
	failures prometheus.Counter       // failed commits
	// validated counts events checked against schemas by type and
	// outcome (valid, invalid, no_schema); quarantined, events kept in
	// the quarantine by type. Types without a schema share one label.
	validated   *prometheus.CounterVec
	quarantined *prometheus.CounterVec
	// refused counts ingest requests refused for overload, by reason
	// (see admission.go).
	refused *prometheus.CounterVec
	// segmentMetrics counts the metrics series that analytics.js posts to
	// /v1/m (counted, not stored).
	segmentMetrics prometheus.Counter
	// skipped counts the positions readers passed over because retention
	// had removed them, by reader (http); see retention.go.
	skipped *prometheus.CounterVec
}

func newMetrics(store sluice.Store, writer *sluice.Writer, subs *consumer.Hub, sinks Sinks) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_http_requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"route"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_events_total", Help: "Events received, by outcome: accepted, duplicate, rejected."}, []string{"outcome"}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_commit_events", Help: "Events per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		commitS: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "sluice_commit_duration_seconds", Help: "Time per group commit.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_commit_failures_total", Help: "Group commits that failed."}),
		validated: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_schema_validations_total",
			Help: "Events checked against their type's schema, by type and outcome: valid, invalid, no_schema (types without a schema are labelled _unregistered)."}, []string{"type", "outcome"}),
		quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_quarantined_events_total",
			Help: "Events kept in the quarantine, by type (types without a schema are labelled _unregistered)."}, []string{"type"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_ingest_refused_total",
			Help: "Ingest requests refused with 503 for overload, by reason: in_flight, queue_full, queue_delay, body_budget."}, []string{"reason"}),
		segmentMetrics: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_segment_client_metrics_total",
			Help: "Metrics series that analytics.js posted to POST /v1/m: counted, not stored."}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_retention_skipped_positions_total",
			Help: "Positions that readers of GET /v1/events and /v1/events/live asked for and passed over because retention had removed them (with retention.readers: start)."}, []string{"reader"}),
	}
	m.skipped.WithLabelValues("http")
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_writer_queue_events", Help: "Events queued or in the commit in flight."}, func() float64 {
		events, _ := writer.Depth()
		return float64(events)
	})
	head := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_log_head_position", Help: "The highest committed position."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h, _ := store.Head(ctx)
		return float64(h)
	})
	m.registry.MustRegister(m.requests, m.latency, m.events, m.commits, m.commitS, m.failures, m.validated, m.quarantined, m.refused, m.segmentMetrics, queue, head, subscriptionCollector{subs}, sinkCollector{sinks})
	for _, outcome := range []string{"accepted", "duplicate", "rejected"} {
		m.events.WithLabelValues(outcome)
	}
	for _, reason := range refusalReasons {
		m.refused.WithLabelValues(reason)
	}
	writer.Observe(m.observeCommit)
	return m
}

// subscriptionCollector reports each subscription's state at every scrape.
type subscriptionCollector struct{ hub *consumer.Hub }

var subscriptionMetrics = []struct {
	desc  *prometheus.Desc
	value func(consumer.State) float64
}{
	{prometheus.NewDesc("sluice_subscription_checkpoint_position", "A subscription's checkpoint: every event up to it is processed.", []string{"subscription"}, nil),
		func(st consumer.State) float64 { return float64(st.Checkpoint) }},
	{prometheus.NewDesc("sluice_subscription_lag_events", "Events after a subscription's checkpoint, those its filter skips included.", []string{"subscription"}, nil),
		func(st consumer.State) float64 { return float64(st.LagEvents) }},
	{prometheus.NewDesc("sluice_subscription_lag_seconds", "Age of the first event after a subscription's checkpoint; 0 when it is caught up.", []string{"subscription"}, nil),
		func(st consumer.State) float64 { return st.LagSeconds }},
	{prometheus.NewDesc("sluice_subscription_hold_seconds", "How long the oldest batch this process delivered has waited for its acknowledgement; 0 when none waits.", []string{"subscription"}, nil),
		func(st consumer.State) float64 { return st.HoldSeconds }},
}

func (c subscriptionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range subscriptionMetrics {
		ch <- m.desc
	}
}

func (c subscriptionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	states, err := c.hub.States(ctx)
	if err != nil {
		for _, m := range subscriptionMetrics {
			ch <- prometheus.NewInvalidMetric(m.desc, err)
		}
		return
	}
	for _, st := range states {
		for _, m := range subscriptionMetrics {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, m.value(st), st.Name)
		}
	}
}

func (m *metrics) observeCommit(c sluice.CommitStats) {
	if c.Err != nil {
		m.failures.Inc()
		return
	}
	m.commits.Observe(float64(c.Events))
	m.commitS.Observe(c.Took.Seconds())
}

// statusRecorder keeps the status code a handler wrote, and counts the
// bytes of the body.
type statusRecorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer (flushing SSE).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts and times the requests of a route.
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	latency := s.metrics.latency.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.traceRoute(r)
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		latency.Observe(time.Since(start).Seconds())
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
	})
}
