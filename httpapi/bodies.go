package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The budget of request bodies: the bytes of the ingest bodies being read
// at once are bounded by Limits.BodyBudgetBytes, so that many clients
// sending large bodies slowly cannot take the server's memory past it
// (docs/decisions.md, D95). A body reserves its Content-Length before its
// first byte is read; a chunked body (no Content-Length) reserves
// bodyStep at a time as it is read. Beyond the budget a body waits, at
// most Limits.BodyWait or its request's life, then is answered 503 busy.
// The reservation is given back once the body is decoded.
//
// Large bodies may fill only three quarters of the budget: the last
// quarter is kept for bodies of at most smallBody bytes, so that the
// small requests of well-behaved clients are read at once while large
// ones queue.

// smallBody is the largest body that may use the budget's last quarter.
const smallBody = 64 << 10

// bodyStep is what a chunked body reserves at a time.
const bodyStep = 64 << 10

// bodyBudget counts the bytes reserved by bodies being read.
type bodyBudget struct {
	total int64         // the budget
	large int64         // what bodies over smallBody may fill
	wait  time.Duration // the longest a body waits for room
	mu    sync.Mutex
	used  int64
	freed chan struct{} // closed, and replaced, when bytes are given back
}

func newBodyBudget(total int64, wait time.Duration) *bodyBudget {
	return &bodyBudget{total: total, large: total / 4 * 3, wait: wait, freed: make(chan struct{})}
}

// acquire reserves n bytes for a body that will then hold size bytes in
// all, waiting for room at most b.wait or until ctx is done; it reports
// whether it did. With nothing reserved, any one body fits, so that a body
// within the per-request limits can always be read.
func (b *bodyBudget) acquire(ctx context.Context, n, size int64) bool {
	limit := b.total
	if size > smallBody {
		limit = b.large
	}
	var timeout <-chan time.Time
	for {
		b.mu.Lock()
		if b.used == 0 || b.used+n <= limit {
			b.used += n
			b.mu.Unlock()
			return true
		}
		freed := b.freed
		b.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(b.wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-freed:
		case <-timeout:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// release gives back n bytes and wakes the bodies waiting for room.
func (b *bodyBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// gauge is the metric of the bytes reserved.
func (b *bodyBudget) gauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_body_budget_reserved_bytes",
		Help: "Bytes of the budget of request bodies (limits.body_budget_bytes) reserved by the bodies being read."}, func() float64 {
		b.mu.Lock()
		defer b.mu.Unlock()
		return float64(b.used)
	})
}

// errBodyBusy is what a chunked body's Read returns when the budget has
// no room for its next step.
var errBodyBusy = errors.New("the budget of request bodies is spent")

// budgetedBody is a request body reading within the budget.
type budgetedBody struct {
	io.ReadCloser
	budget *bodyBudget
	ctx    context.Context
	held   int64 // reserved
	read   int64 // read so far
	busy   bool  // a step found no room
}

// Read reads what the reservation covers, reserving the next step first
// when a chunked body has used it up.
func (b *budgetedBody) Read(p []byte) (int, error) {
	if b.busy {
		return 0, errBodyBusy
	}
	if b.read == b.held {
		if !b.budget.acquire(b.ctx, bodyStep, b.held+bodyStep) {
			b.busy = true
			return 0, errBodyBusy
		}
		b.held += bodyStep
	}
	p = p[:min(int64(len(p)), b.held-b.read)]
	n, err := b.ReadCloser.Read(p)
	b.read += int64(n)
	return n, err
}

// reserveBody reserves room for r's body in the budget: its Content-Length
// now, or, for a chunked body, step by step as it is read (r.Body is
// replaced for that). A body over Limits.MaxBodyBytes reserves nothing:
// the decoder refuses it without reading it. The answer is 503 busy when
// the budget has no room in time; otherwise done gives the room back once
// the body is decoded, and returns 503 busy when a chunked body's step
// found none (nil otherwise).
func (s *Server) reserveBody(r *http.Request) (done func() *Problem, p *Problem) {
	busy := func() *Problem {
		return s.refuse(refusedBodyBudget, "busy", "too many request bodies are being read at once; retry later")
	}
	switch {
	case r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 || r.ContentLength > s.cfg.Limits.MaxBodyBytes:
		return func() *Problem { return nil }, nil
	case r.ContentLength > 0:
		n := r.ContentLength
		if !s.bodies.acquire(r.Context(), n, n) {
			return nil, busy()
		}
		return func() *Problem { s.bodies.release(n); return nil }, nil
	}
	body := &budgetedBody{ReadCloser: r.Body, budget: s.bodies, ctx: r.Context()}
	r.Body = body
	return func() *Problem {
		s.bodies.release(body.held)
		if body.busy {
			return busy()
		}
		return nil
	}, nil
}
