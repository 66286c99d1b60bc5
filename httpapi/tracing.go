package httpapi

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice"
)

// Tracing is where the API's spans come from: a tracer provider, and the
// reading of a caller's trace headers (W3C traceparent), so that a
// request's spans join the caller's trace. internal/tracing's Provider is
// one. Without WithTracing the API starts no span at all.
type Tracing interface {
	trace.TracerProvider
	// Extract returns ctx with the remote span context of h, if h has one.
	Extract(ctx context.Context, h http.Header) context.Context
}

// WithTracing makes the API trace each request: a server span named
// after its route ("POST /v1/events"), and on the ingest routes child
// spans for decode, validate, queue_wait, commit and answer.
func WithTracing(t Tracing) Option {
	return func(s *Server) {
		s.tracing = t
		s.tracer = t.Tracer("github.com/sluicehq/sluice/httpapi")
	}
}

// noSpan is the span of a request that is not traced: its methods do
// nothing.
var noSpan = trace.SpanFromContext(context.Background())

// traced serves r with next inside the request's server span.
func (s *Server) traced(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	ctx := s.tracing.Extract(r.Context(), r.Header)
	ctx, span := s.tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	rec := &statusRecorder{ResponseWriter: w}
	r = r.WithContext(ctx)
	next(rec, r)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", loggedPath(r)),
		attribute.Int("http.response.status_code", rec.code),
	)
	if rec.code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(rec.code))
	}
}

// traceRoute names the request's span after the route the mux matched
// (r.Pattern, such as "POST /v1/events"); a request no route matched
// keeps its method as its name.
func (s *Server) traceRoute(r *http.Request) {
	if s.tracer == nil {
		return
	}
	span := trace.SpanFromContext(r.Context())
	span.SetName(r.Pattern)
	_, route, _ := strings.Cut(r.Pattern, " ")
	span.SetAttributes(attribute.String("http.route", route))
}

// traceKey notes on the request's span the name of its key.
func (s *Server) traceKey(r *http.Request, name string) {
	if s.tracer != nil {
		trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("sluice.key", name))
	}
}

// span starts a child span of the request's span, or returns r's context
// and noSpan when the API does not trace.
func (s *Server) span(r *http.Request, name string) (context.Context, trace.Span) {
	if s.tracer == nil {
		return r.Context(), noSpan
	}
	return s.tracer.Start(r.Context(), name)
}

// wait waits for t's commit, and traces its wait in the queue and its
// commit when the request is traced.
func (s *Server) wait(r *http.Request, t *sluice.Ticket) (sluice.AppendResult, error) {
	res, err := t.Wait(r.Context())
	select {
	case <-t.Done():
		s.traceCommit(r, t)
	default: // the request ended before its commit
	}
	return res, err
}

// traceCommit records the spans of a committed request's wait in the
// queue and of its group commit, from the writer's timing of t.
func (s *Server) traceCommit(r *http.Request, t *sluice.Ticket) {
	if s.tracer == nil || !trace.SpanFromContext(r.Context()).IsRecording() {
		return
	}
	tm := t.Timing()
	_, wait := s.tracer.Start(r.Context(), "queue_wait", trace.WithTimestamp(tm.Queued))
	wait.End(trace.WithTimestamp(tm.Started))
	_, commit := s.tracer.Start(r.Context(), "commit", trace.WithTimestamp(tm.Started), trace.WithAttributes(
		attribute.Int("sluice.commit.requests", tm.Commit.Requests),
		attribute.Int("sluice.commit.events", tm.Commit.Events),
	))
	if tm.Commit.Err != nil {
		commit.SetStatus(codes.Error, tm.Commit.Err.Error())
	}
	commit.End(trace.WithTimestamp(tm.Started.Add(tm.Commit.Took)))
}

// answer writes a successful answer (writeBody) inside an answer span.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, appendBody func([]byte) []byte) {
	_, span := s.span(r, "answer")
	writeBody(w, status, jsonContentType, appendBody)
	span.End()
}

// traceEvents notes on span how many events a step saw and how many it
// turned down.
func traceEvents(span trace.Span, events, rejected int) {
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("sluice.events", events), attribute.Int("sluice.rejected", rejected))
	}
}

// traceID is the trace id of r's span, "" when r is not traced.
func traceID(r *http.Request) string {
	sc := trace.SpanContextFromContext(r.Context())
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
