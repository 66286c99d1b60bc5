package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/httpapi"
)

// frontEnd is the HTTP server of serve. It serves the listener from the
// start: requests that come before the API is set (while a restarted
// process takes the embedded store over) wait for it, at most holdLimit,
// then get 503 "restarting" with Retry-After. When the process hands over
// to a successor, requests on the connections it still has go to the
// successor (handToSuccessor), so that it can close its store while
// clients finish with those connections (decision D134).
type frontEnd struct {
	ln     net.Listener
	hs     *http.Server
	served chan error
	log    *slog.Logger

	set       chan struct{} // closed once api is set
	api       http.Handler
	holdLimit time.Duration

	// route is read-locked by each request served by api, and locked to
	// send requests to successor instead.
	route     sync.RWMutex
	successor http.Handler
	closing   atomic.Bool // every answer says Connection: close

	mu       sync.Mutex
	held     int       // requests that waited for api
	earliest time.Time // arrival of the first of them
	conns    map[net.Conn]connState
}

// connState is a connection's state and since when it has been in it.
type connState struct {
	state http.ConnState
	since time.Time
}

// startFrontEnd serves ln at once.
func startFrontEnd(ln net.Listener, holdLimit time.Duration, log *slog.Logger) *frontEnd {
	fe := &frontEnd{ln: ln, served: make(chan error, 1), log: log, set: make(chan struct{}), holdLimit: holdLimit, conns: map[net.Conn]connState{}}
	fe.hs = newHTTPServer(fe, log)
	fe.hs.ConnState = fe.track
	go func() { fe.served <- fe.hs.Serve(ln) }()
	return fe
}

// addr is the address it listens on.
func (fe *frontEnd) addr() string { return fe.ln.Addr().String() }

// open sends requests, the held ones first, to api; takeover, when not
// zero, is when this process started holding them, for the log.
func (fe *frontEnd) open(api http.Handler, takeover time.Time) {
	fe.api = api
	close(fe.set)
	fe.mu.Lock()
	held, earliest := fe.held, fe.earliest
	fe.mu.Unlock()
	if !takeover.IsZero() {
		attrs := []any{"pause", time.Since(takeover).String(), "held_requests", held}
		if held > 0 {
			attrs = append(attrs, "longest_hold", time.Since(earliest).String())
		}
		fe.log.Info("store taken over", attrs...)
	}
}

func (fe *frontEnd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if fe.closing.Load() {
		w.Header().Set("Connection", "close")
	}
	select {
	case <-fe.set:
	default:
		if !fe.hold(r) {
			fe.log.Warn("request not held any longer", "path", r.URL.Path, "limit", fe.holdLimit.String(), "client_gone", r.Context().Err() != nil)
			p := &httpapi.Problem{Status: http.StatusServiceUnavailable, Code: "restarting", Title: http.StatusText(http.StatusServiceUnavailable),
				Detail: "the server is taking the store over from its previous process; retry later", RetryAfter: time.Second}
			p.ServeHTTP(w, r)
			return
		}
	}
	fe.route.RLock()
	if fe.successor == nil {
		defer fe.route.RUnlock()
		fe.api.ServeHTTP(w, r)
		return
	}
	fe.route.RUnlock()
	fe.successor.ServeHTTP(w, r)
}

// hold waits until api is set; false when the request ended or waited
// holdLimit first.
func (fe *frontEnd) hold(r *http.Request) bool {
	fe.mu.Lock()
	if fe.held == 0 {
		fe.earliest = time.Now()
	}
	fe.held++
	fe.mu.Unlock()
	t := time.NewTimer(fe.holdLimit)
	defer t.Stop()
	select {
	case <-fe.set:
		return true
	case <-r.Context().Done():
	case <-t.C:
	}
	return false
}

// track keeps the state of each connection, for handOff.
func (fe *frontEnd) track(c net.Conn, state http.ConnState) {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	switch state {
	case http.StateHijacked, http.StateClosed:
		delete(fe.conns, c)
	default:
		fe.conns[c] = connState{state, time.Now()}
	}
}

// handToSuccessor stops taking connections, and sends the requests that
// come on the open ones to the successor, which listens on the same
// socket, each answered with Connection: close. It returns once the
// requests that api was serving have finished, or after timeout: api and
// the store are then no longer used.
func (fe *frontEnd) handToSuccessor(timeout time.Duration) error {
	fe.closing.Store(true)
	fe.ln.Close()
	target := successorURL(fe.ln.Addr())
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		ErrorLog: slog.NewLogLogger(fe.log.Handler(), slog.LevelWarn),
	}
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode >= 500 {
			fe.log.Warn("forwarded request failed", "path", resp.Request.URL.Path, "status", resp.StatusCode)
		}
		return nil
	}
	locked := make(chan struct{})
	go func() {
		fe.route.Lock()
		fe.successor = proxy
		fe.route.Unlock()
		close(locked)
	}()
	select {
	case <-locked:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("shutdown: requests in flight after %s", timeout)
	}
}

// successorURL is the URL that reaches the socket of addr from this host.
func successorURL(addr net.Addr) *url.URL {
	host := "127.0.0.1"
	ta, ok := addr.(*net.TCPAddr)
	switch {
	case !ok:
	case !ta.IP.IsUnspecified():
		host = ta.IP.String()
	case ta.IP.To4() == nil:
		host = "::1"
	}
	port := 0
	if ok {
		port = ta.Port
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, fmt.Sprint(port))}
}

// Closing a kept-alive connection races with a client that sends its next
// request on it at that moment: the request fails, and a client cannot know
// whether a POST was received, so it does not retry it. A process that has
// handed over therefore closes its connections the way that cannot race
// for clients under load: every answer says Connection: close, and the
// process closes a connection itself only once it has been idle for
// idleBeforeClose. Clients reuse their most recently used connection
// first, so one idle that long is one they no longer send on.
const (
	idleBeforeClose = time.Second
	handOffPoll     = 10 * time.Millisecond
)

// handOff waits until the connections left after handToSuccessor have
// ended (see idleBeforeClose), at most timeout, then closes the server.
func (fe *frontEnd) handOff(timeout time.Duration) {
	begin := time.Now()
	deadline := begin.Add(timeout)
	tick := time.NewTicker(handOffPoll)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		fe.mu.Lock()
		for c, cs := range fe.conns {
			// A connection idle since before counts from now: clients
			// reach deep into their idle connections while the
			// successor holds requests.
			if cs.state == http.StateIdle && time.Since(later(cs.since, begin)) >= idleBeforeClose {
				c.Close()
				delete(fe.conns, c)
			}
		}
		open := len(fe.conns)
		fe.mu.Unlock()
		if open == 0 {
			break
		}
		<-tick.C
	}
	fe.hs.Close()
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// shutdown closes the listener and waits for the requests in flight, at
// most timeout.
func (fe *frontEnd) shutdown(ctx context.Context, timeout time.Duration) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := fe.hs.Shutdown(sctx); err != nil {
		fe.hs.Close()
		return fmt.Errorf("shutdown: requests in flight: %w", err)
	}
	return nil
}
