package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/schema"
	"github.com/sluicehq/sluice/sdk/js"
)

// Server is the HTTP API of one sluice process.
type Server struct {
	store    sluice.Store
	writer   *sluice.Writer
	schemas  *schema.Registry
	cfg      Config
	log      *slog.Logger
	keys     *keyring
	metrics  *metrics
	mux      *http.ServeMux
	methods  map[string][]string // path pattern → its methods, for 405 answers
	draining atomic.Bool
	// inFlight holds a token for each ingest request being handled
	// (Limits.MaxInFlight).
	inFlight chan struct{}
	// bodies is the budget of ingest bodies being read (bodies.go).
	bodies *bodyBudget
	// sinceTrim counts the events quarantined since the quarantine was
	// last trimmed.
	sinceTrim atomic.Int64
	// subs serves the durable subscriptions.
	subs *consumer.Hub
	// sinks serves the sinks' states and controls.
	sinks Sinks
	// stopping ends when Drain is called: long polls, waits and live tails
	// end early, so that shutdown does not wait for them.
	stopping context.Context
	stop     context.CancelFunc
	// startAtFirst: see WithStartAtFirst.
	startAtFirst bool
	// tracing and tracer make the requests' spans; nil when the API does
	// not trace (WithTracing).
	tracing Tracing
	tracer  trace.Tracer
}

// New builds the API over store and writer, checking events with the
// schemas of registry (whose refreshing is the caller's: registry.Run). cfg
// is validated (all problems at once) and completed with defaults.
func New(store sluice.Store, writer *sluice.Writer, registry *schema.Registry, cfg Config, log *slog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if log == nil {
		log = slog.Default()
	}
	s := &Server{store: store, writer: writer, schemas: registry, cfg: cfg, log: log, keys: newKeyring(cfg, store), mux: http.NewServeMux(), methods: map[string][]string{}, inFlight: make(chan struct{}, cfg.Limits.MaxInFlight), bodies: newBodyBudget(cfg.Limits.BodyBudgetBytes, cfg.Limits.BodyWait)}
	s.subs = consumer.NewHub(store, cfg.SubscriptionReaderTTL)
	s.sinks = noSinks{}
	for _, opt := range opts {
		opt(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.keys.refresh(ctx); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	s.stopping, s.stop = context.WithCancel(context.Background())
	s.metrics = newMetrics(store, writer, s.subs, s.sinks)
	s.metrics.registry.MustRegister(s.bodies.gauge())
	s.metrics.registry.MustRegister(retentionCollectors(store, s.metrics, s.subs.Skipped)...)
	s.routes()
	return s, nil
}

// Drain makes /readyz answer 503, so that load balancers stop sending
// before the process shuts down.
// It also ends long polls, waits and live tails.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.stop()
}

func (s *Server) routes() {
	ingest, read := RoleWrite, RoleRead
	s.handle("GET /healthz", "healthz", "", s.healthz)
	s.handle("GET /readyz", "readyz", "", s.readyz)
	metricsRole := read
	if s.cfg.OpenMetrics {
		metricsRole = ""
	}
	s.handle("GET /metrics", "metrics", metricsRole, promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}).ServeHTTP)
	s.handle("POST /v1/events", "ingest", ingest, s.ingest)
	s.handle("POST /v1/streams/{stream}/events", "append", ingest, s.appendStream)
	s.handle("GET /v1/streams/{stream}/events", "read_stream", read, s.readStream)
	s.handle("GET /v1/streams", "list_streams", read, s.listStreams)
	s.handle("GET /v1/events", "read_log", read, s.readLog)
	s.handle("GET /v1/events/live", "live", read, s.live)
	s.handle("PUT /v1/subscriptions/{name}", "put_subscription", read, s.putSubscription)
	s.handle("GET /v1/subscriptions", "list_subscriptions", read, s.listSubscriptions)
	s.handle("GET /v1/subscriptions/{name}", "get_subscription", read, s.getSubscription)
	s.handle("DELETE /v1/subscriptions/{name}", "delete_subscription", read, s.deleteSubscription)
	s.handle("GET /v1/subscriptions/{name}/events", "subscription_events", read, s.subscriptionEvents)
	s.handle("POST /v1/subscriptions/{name}/ack", "ack_subscription", read, s.ackSubscription)
	s.handle("DELETE /v1/subscriptions/{name}/reader", "release_subscription", read, s.releaseSubscription)
	s.handle("GET /v1/subscriptions/{name}/wait", "wait_subscription", read, s.waitSubscription)
	s.handle("PUT /v1/schemas/{type}", "put_schema", RoleAdmin, s.putSchema)
	s.handle("GET /v1/schemas", "list_schemas", read, s.listSchemas)
	s.handle("GET /v1/schemas/{type}", "get_schema", read, s.getSchema)
	s.handle("GET /v1/schemas/{type}/versions/{version}", "get_schema_version", read, s.getSchema)
	s.handle("GET /v1/quarantine", "list_quarantine", read, s.listQuarantine)
	s.handle("POST /v1/quarantine/replay", "replay_quarantine", RoleAdmin, s.replayQuarantine)
	s.handle("GET /v1/sinks", "list_sinks", read, s.listSinks)
	s.handle("GET /v1/sinks/{name}", "get_sink", read, s.getSink)
	s.handle("POST /v1/sinks/{name}/pause", "pause_sink", RoleAdmin, s.pauseSink)
	s.handle("POST /v1/sinks/{name}/resume", "resume_sink", RoleAdmin, s.resumeSink)
	s.handle("POST /v1/sinks/{name}/replay", "replay_sink", RoleAdmin, s.replaySink)
	s.handle("GET /v1/sinks/{name}/dead-letters", "list_dead_letters", read, s.listDeadLetters)
	s.handle("POST /v1/sinks/{name}/dead-letters/redrive", "redrive_dead_letters", RoleAdmin, s.redrive)
	s.handle("POST /v1/admin/backup", "backup", RoleAdmin, s.backup)
	s.handle("GET /v1/keys", "list_keys", RoleAdmin, s.listKeys)
	s.handle("POST /v1/keys", "create_key", RoleAdmin, s.createKey)
	s.handle("PATCH /v1/keys/{name}", "patch_key", RoleAdmin, s.patchKey)
	s.handle("DELETE /v1/keys/{name}", "revoke_key", RoleAdmin, s.revokeKey)
	s.segmentRoutes()
	s.handle("GET /sdk.js", "sdk", "", js.Handler().ServeHTTP)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, problemf(http.StatusNotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path))
	})
	// A known path with another method: 405 as problem+json (the mux's own
	// answer would be text/plain).
	for path, methods := range s.methods {
		allow := strings.Join(methods, ", ")
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeProblem(w, problemf(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path+"; use "+allow))
		})
	}
}

// handle registers h for pattern behind the key check for role ("": no key
// needed), CORS, and the request metrics labelled route.
func (s *Server) handle(pattern, route string, role Role, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.instrument(route, s.authorize(role, h)))
	method, path, _ := strings.Cut(pattern, " ")
	s.methods[path] = append(s.methods[path], method)
}

// ServeHTTP answers one request, logs it when the access log is on, and
// traces it when tracing is (the access log's line then has its trace id).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.tracer != nil:
		s.traced(w, r, s.logged)
	case s.cfg.AccessLog.Enabled:
		s.logAccess(w, r, s.serve)
	default:
		s.serve(w, r)
	}
}

// logged serves r, and logs it when the access log is on.
func (s *Server) logged(w http.ResponseWriter, r *http.Request) {
	if s.cfg.AccessLog.Enabled {
		s.logAccess(w, r, s.serve)
		return
	}
	s.serve(w, r)
}

// serve routes one request.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		s.preflight(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is 503 while draining or while the store cannot be reached.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeProblem(w, s.unavailable("draining", "the server is shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.store.Head(ctx); err != nil {
		writeProblem(w, s.unavailable("store_unavailable", "the store cannot be reached"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// admit takes one of Limits.MaxInFlight places for an ingest request whose
// body has been read, and returns the function that gives it back; with
// none free, it answers 503 overloaded and returns false. The writer's
// queue bounds memory; this bounds the wait: the requests it accepts are
// not queued behind every request clients send. It comes after the body,
// so that clients that send slowly, or stop half way, hold no place.
func (s *Server) admit(w http.ResponseWriter) (release func(), ok bool) {
	select {
	case s.inFlight <- struct{}{}:
		return func() { <-s.inFlight }, true
	default:
		s.overloaded(w)
		return nil, false
	}
}

// full answers 503 overloaded when every place is taken already, before
// the body is read: under overload most requests are refused this way,
// without the cost of reading and decoding what would be thrown away. A
// request that passes still takes its place only once its body is read.
func (s *Server) full(w http.ResponseWriter) bool {
	if len(s.inFlight) < cap(s.inFlight) {
		return false
	}
	s.overloaded(w)
	return true
}

func (s *Server) overloaded(w http.ResponseWriter) {
	writeProblem(w, s.refuse(refusedInFlight, "overloaded", "too many ingest requests in flight; retry later"))
}

// unavailable is a 503 with Retry-After.
func (s *Server) unavailable(code, detail string) *Problem {
	p := problemf(http.StatusServiceUnavailable, code, detail)
	p.RetryAfter = s.cfg.RetryAfter
	return p
}

// storeProblem maps an error of the store or the writer to its answer.
func (s *Server) storeProblem(err error) *Problem {
	var p *Problem
	var wv *sluice.WrongExpectedVersionError
	var ee *sluice.EventError
	var gone *sluice.GoneError
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &gone):
		return goneProblem(gone)
	case errors.As(err, &wv):
		p = problemf(http.StatusConflict, "wrong_expected_version", wv.Error())
		p.CurrentVersion = &wv.Current
		return p
	case errors.As(err, &ee):
		p = problemf(http.StatusBadRequest, "invalid_event", ee.Error())
		p.Errors = []EventProblem{{Index: ee.Index, ID: ee.ID, Path: fieldPath(ee.Field), Message: ee.Reason}}
		return p
	case errors.Is(err, sluice.ErrQueueFull):
		return s.refuse(refusedQueueFull, "overloaded", "the write queue is full; retry later")
	case errors.Is(err, sluice.ErrQueueDelay):
		return s.refuse(refusedQueueDelay, "overloaded", "the write queue's oldest request has waited longer than the target; retry later")
	case errors.Is(err, sluice.ErrClosed):
		return s.unavailable("draining", "the server is shutting down")
	case errors.Is(err, sluice.ErrStorageFull):
		return s.unavailable("storage_full", "the store's disk is full; retry once space is freed")
	case errors.Is(err, sluice.ErrUnavailable):
		return s.unavailable("store_unavailable", "the store cannot write now; retry later")
	case errors.Is(err, sluice.ErrStreamNotFound):
		return problemf(http.StatusNotFound, "stream_not_found", "the stream has no events")
	case errors.Is(err, sluice.ErrSchemaNotFound):
		return problemf(http.StatusNotFound, "schema_not_found", "no such schema is registered")
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return s.unavailable("timeout", "the request was not finished in time")
	}
	s.log.Error("request failed", "err", err)
	return problemf(http.StatusInternalServerError, "internal", "an unexpected error; it is logged")
}

// fieldPath is the JSON pointer of an envelope field ("" for the size).
func fieldPath(field string) string {
	if field == "size" || field == "events" {
		return ""
	}
	return "/" + field
}
