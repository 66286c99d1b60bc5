package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

// Sinks is what the API serves of the configured sinks: the command fills
// it with the sink runner's Manager, so that the edge never imports the
// sinks themselves.
type Sinks interface {
	States(ctx context.Context) ([]sink.State, error)
	State(ctx context.Context, name string) (sink.State, error)
	Pause(ctx context.Context, name string) (sink.State, error)
	Resume(ctx context.Context, name string) (sink.State, error)
	Replay(ctx context.Context, name string, req sink.ReplayRequest) (sink.State, error)
	DeadLetters(ctx context.Context, name string, after int64, limit int) ([]sluice.DeadLetter, error)
	Redrive(ctx context.Context, name string, req sink.RedriveRequest) (sink.RedriveResult, error)
	// Stats are the figures of the sinks this process runs, for the
	// metrics.
	Stats() []sink.Stats
}

// Option configures a Server beyond its Config.
type Option func(*Server)

// WithSinks serves the sinks' states and controls (GET /v1/sinks and the
// rest); without it the API knows of no sink.
func WithSinks(sinks Sinks) Option { return func(s *Server) { s.sinks = sinks } }

// noSinks is the Sinks of a server configured with none.
type noSinks struct{}

func (noSinks) States(context.Context) ([]sink.State, error) { return []sink.State{}, nil }
func (noSinks) State(_ context.Context, name string) (sink.State, error) {
	return sink.State{}, sink.ErrNotFound
}
func (n noSinks) Pause(ctx context.Context, name string) (sink.State, error) {
	return n.State(ctx, name)
}
func (n noSinks) Resume(ctx context.Context, name string) (sink.State, error) {
	return n.State(ctx, name)
}
func (n noSinks) Replay(ctx context.Context, name string, _ sink.ReplayRequest) (sink.State, error) {
	return n.State(ctx, name)
}
func (noSinks) DeadLetters(context.Context, string, int64, int) ([]sluice.DeadLetter, error) {
	return nil, sink.ErrNotFound
}
func (noSinks) Redrive(context.Context, string, sink.RedriveRequest) (sink.RedriveResult, error) {
	return sink.RedriveResult{}, sink.ErrNotFound
}
func (noSinks) Stats() []sink.Stats { return nil }

// listSinks is GET /v1/sinks: every sink's state, in name order.
func (s *Server) listSinks(w http.ResponseWriter, r *http.Request) {
	states, err := s.sinks.States(r.Context())
	if err != nil {
		writeProblem(w, s.sinkProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sinks": states})
}

// getSink is GET /v1/sinks/{name}.
func (s *Server) getSink(w http.ResponseWriter, r *http.Request) {
	s.answerSink(w, r, s.sinks.State)
}

// pauseSink is POST /v1/sinks/{name}/pause.
func (s *Server) pauseSink(w http.ResponseWriter, r *http.Request) {
	s.answerSink(w, r, s.sinks.Pause)
}

// resumeSink is POST /v1/sinks/{name}/resume.
func (s *Server) resumeSink(w http.ResponseWriter, r *http.Request) {
	s.answerSink(w, r, s.sinks.Resume)
}

// answerSink answers with the state that do returns for the path's sink.
func (s *Server) answerSink(w http.ResponseWriter, r *http.Request, do func(context.Context, string) (sink.State, error)) {
	st, err := do(r.Context(), r.PathValue("name"))
	if err != nil {
		writeProblem(w, s.sinkProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// sinkReplayRequest is the body of POST /v1/sinks/{name}/replay: one of the
// two.
type sinkReplayRequest struct {
	FromPosition *uint64   `json:"from_position"`
	FromTime     time.Time `json:"from_time"`
}

// replaySink is POST /v1/sinks/{name}/replay: 202 with the sink's state,
// its replay started.
func (s *Server) replaySink(w http.ResponseWriter, r *http.Request) {
	var req sinkReplayRequest
	if p := decodeSmallJSON(w, r, &req, `{"from_position": <position>} or {"from_time": "<RFC 3339 time>"}`); p != nil {
		writeProblem(w, p)
		return
	}
	if (req.FromPosition == nil) == req.FromTime.IsZero() {
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_body", `give from_position or from_time, one of them`))
		return
	}
	var rr sink.ReplayRequest
	if req.FromPosition != nil {
		if *req.FromPosition == 0 {
			writeProblem(w, problemf(http.StatusBadRequest, "invalid_body", "from_position starts at 1"))
			return
		}
		rr.FromPosition = sluice.Position(*req.FromPosition)
	}
	rr.FromTime = req.FromTime
	st, err := s.sinks.Replay(r.Context(), r.PathValue("name"), rr)
	if err != nil {
		writeProblem(w, s.sinkProblem(err))
		return
	}
	s.log.Info("sink replay", "sink", st.Name, "from_position", rr.FromPosition, "from_time", rr.FromTime)
	writeJSON(w, http.StatusAccepted, st)
}

// listDeadLetters is GET /v1/sinks/{name}/dead-letters: the sink's dead
// letters, paged by after= (their seq) and limit=; each event's data and
// metadata byte for byte as stored.
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	limit, after, p := s.pageParams(r.URL.Query())
	if p != nil {
		writeProblem(w, p)
		return
	}
	ds, err := s.sinks.DeadLetters(r.Context(), r.PathValue("name"), int64(min(after, 1<<63-1)), limit)
	if err != nil {
		writeProblem(w, s.sinkProblem(err))
		return
	}
	b := []byte(`{"dead_letters":[`)
	next := int64(after)
	for i := range ds {
		d := &ds[i]
		if i > 0 {
			b = append(b, ',')
		}
		meta, _ := json.Marshal(struct {
			Seq            int64     `json:"seq"`
			Sink           string    `json:"sink"`
			Attempts       int       `json:"attempts"`
			Error          string    `json:"error"`
			FirstAttemptAt time.Time `json:"first_attempt_at"`
			At             time.Time `json:"dead_lettered_at"`
		}{d.Seq, d.Sink, d.Attempts, d.Error, d.FirstAttemptAt, d.At}) // always encodes
		b = append(b, meta[:len(meta)-1]...)
		b = append(b, `,"event":`...)
		b = d.Event.AppendJSON(b)
		b = append(b, '}')
		next = d.Seq
	}
	b = append(b, `],"next_after":`...)
	b = strconv.AppendInt(b, next, 10)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}

// redriveRequest is the body of POST /v1/sinks/{name}/dead-letters/redrive.
type redriveRequest struct {
	IDs   []string `json:"ids"`
	Limit int      `json:"limit"`
}

// redrive is POST /v1/sinks/{name}/dead-letters/redrive: the dead letters
// named by ids, or the oldest limit (default 100), delivered again once.
func (s *Server) redrive(w http.ResponseWriter, r *http.Request) {
	var req redriveRequest
	if p := decodeSmallJSON(w, r, &req, `{"ids": ["<event id>", …]} or {"limit": <n>}, or {}`); p != nil {
		writeProblem(w, p)
		return
	}
	if req.Limit < 0 || req.Limit > s.cfg.Limits.MaxPageSize || len(req.IDs) > s.cfg.Limits.MaxPageSize {
		writeProblem(w, problemf(http.StatusBadRequest, "invalid_body", "limit and the number of ids must be 0 to "+strconv.Itoa(s.cfg.Limits.MaxPageSize)))
		return
	}
	res, err := s.sinks.Redrive(r.Context(), r.PathValue("name"), sink.RedriveRequest{IDs: req.IDs, Limit: req.Limit})
	if err != nil {
		writeProblem(w, s.sinkProblem(err))
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// decodeSmallJSON decodes a small JSON body (empty means {}) into v,
// strictly; shape describes the body for the error.
func decodeSmallJSON(w http.ResponseWriter, r *http.Request, v any, shape string) *Problem {
	body, p := readSmallBody(w, r, 64<<10)
	if p != nil {
		return p
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problemf(http.StatusBadRequest, "invalid_body", "the body must be "+shape+": "+err.Error())
	}
	return nil
}

// sinkProblem maps an error of the sinks to its answer.
func (s *Server) sinkProblem(err error) *Problem {
	switch {
	case errors.Is(err, sink.ErrNotFound):
		return problemf(http.StatusNotFound, "sink_not_found", "no sink of that name is configured")
	case errors.Is(err, sink.ErrNothingToReplay):
		return problemf(http.StatusConflict, "nothing_to_replay", err.Error())
	}
	return s.storeProblem(err)
}
