package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
)

// livePage is how many events the live tail reads, and holds, at a time.
const livePage = 100

// live is GET /v1/events/live: the log as Server-Sent Events, with the
// filters of GET /v1/events, from after= or the Last-Event-ID header (the
// position of the last event received), then every new event as it is
// committed. Each client reads the store on its own: a slow one delays
// nobody, and one that stops reading is dropped.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, p := uintParam(q, "after")
	if p != nil {
		writeProblem(w, p)
		return
	}
	given := q.Has("after")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		given = true
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			writeProblem(w, problemf(http.StatusBadRequest, "invalid_parameter", "Last-Event-ID must be a position, a whole number"))
			return
		}
		after = n
	}
	f := filterParams(q)
	if err := s.liveStart(r.Context(), sluice.Position(after), given); err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies must not hold the stream back
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil { // the client sees the stream open before the first event
		return
	}
	// The tail ends only with an error: the client went or the server
	// drains (context canceled), the client stalled, or the store failed.
	ctx, stop := context.WithCancel(r.Context())
	defer context.AfterFunc(s.stopping, stop)()
	defer stop()
	if err := s.tail(ctx, w, rc, sluice.Position(after), given, f); !errors.Is(err, context.Canceled) {
		s.log.Debug("live tail ended", "err", err)
	}
}

// tail writes the events after pos that f keeps, then waits for more,
// sending a comment as a heartbeat when nothing came for
// Config.LiveHeartbeat, until the client goes or a write fails; it returns
// why.
func (s *Server) tail(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, pos sluice.Position, given bool, f sluice.Filter) error {
	cur := consumer.NewCursor(s.store, pos, f, livePage)
	if !given || s.startAtFirst {
		// From the first position: a tail that falls behind retention
		// later goes on from it too (with a position given and without
		// StartAtFirst, the stream ends and its reconnection gets 410).
		cur.SkipGone(func(n uint64) {
			if given {
				s.metrics.skipped.WithLabelValues("http").Add(float64(n))
			}
		})
	}
	var buf []byte
	for {
		evs, err := cur.Read(ctx)
		if err != nil {
			return err
		}
		buf = buf[:0]
		for i := range evs {
			buf = append(buf, "id: "...)
			buf = strconv.AppendUint(buf, uint64(evs[i].Position), 10)
			buf = append(buf, "\ndata: "...)
			buf = evs[i].AppendJSON(buf)
			buf = append(buf, "\n\n"...)
		}
		if len(buf) > 0 {
			if err := s.send(w, rc, buf); err != nil {
				return err
			}
		}
		if len(evs) == livePage {
			continue // catching up
		}
		if err := s.waitOrBeat(ctx, w, rc, cur.Position()); err != nil {
			return err
		}
	}
}

// waitOrBeat waits for a commit after pos, writing a heartbeat comment
// each Config.LiveHeartbeat that passes without one.
func (s *Server) waitOrBeat(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, pos sluice.Position) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, s.cfg.LiveHeartbeat)
		_, err := s.store.WaitHead(wctx, pos)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err := s.send(w, rc, []byte(": heartbeat\n\n")); err != nil {
			return err
		}
	}
}

// send writes b and flushes it within Config.LiveStall: a client that
// reads nothing for that long is dropped, so that it holds no more than a
// page of events, and no goroutine for ever.
func (s *Server) send(w http.ResponseWriter, rc *http.ResponseController, b []byte) error {
	if err := rc.SetWriteDeadline(time.Now().Add(s.cfg.LiveStall)); err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	return rc.Flush()
}
