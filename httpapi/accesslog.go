package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// AccessLog configures the access log: one line per sampled request in
// the server's log (JSON under serve), with the method, the path (never
// the query, which may hold ?key=), the status, the duration, the bytes of
// the answer, the name of the key that was sent (never its secret), the
// client's address and, when tracing is on, the request's trace id.
type AccessLog struct {
	// Enabled writes the access log. Default false.
	Enabled bool `yaml:"enabled"`
	// Sample is the share of requests logged, from 0 (none) to 1 (every
	// one), each request drawn at random. sluice serve's default is 1.
	Sample float64 `yaml:"sample"`
}

// problems checks the access log's fields at path.
func (a AccessLog) problems(path string) []error {
	if a.Sample < 0 || a.Sample > 1 {
		return []error{fmt.Errorf("%s.sample: %v is not between 0 and 1", path, a.Sample)}
	}
	return nil
}

// accessEntry is what handlers deeper in the chain tell the access log:
// the name of the request's key, once it is known.
type accessEntry struct{ key string }

type accessContext struct{}

// noteKey tells the access log of r, if any, the name of its key.
func noteKey(r *http.Request, name string) {
	if e, ok := r.Context().Value(accessContext{}).(*accessEntry); ok {
		e.key = name
	}
}

// logAccess serves r with h and, for a sampled request, logs its line.
func (s *Server) logAccess(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	if !sampled(s.cfg.AccessLog.Sample) {
		h(w, r)
		return
	}
	start := time.Now()
	entry := &accessEntry{}
	rec := &statusRecorder{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), accessContext{}, entry))
	h(rec, r)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", loggedPath(r)),
		slog.Int("status", rec.code),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.Int64("bytes", rec.bytes),
		slog.String("key", entry.key),
		slog.String("remote", r.RemoteAddr),
	}
	if id := traceID(r); id != "" {
		attrs = append(attrs, slog.String("trace_id", id))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// sampled draws whether a request is logged: always at 1, never at 0.
func sampled(share float64) bool {
	return share >= 1 || rand.Float64() < share
}

// loggedPath is the request's path, but a route whose path holds a secret
// (Segment's settings, /v1/projects/{writeKey}/settings) logs its pattern.
func loggedPath(r *http.Request) string {
	if strings.Contains(r.Pattern, "{writeKey}") {
		_, path, _ := strings.Cut(r.Pattern, " ")
		return path
	}
	return r.URL.Path
}
