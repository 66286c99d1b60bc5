package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

// pidFileName is the file in the data directory that holds the process id
// of the serving process, written once it is ready; "sluice restart"
// signals it.
const pidFileName = "sluice.pid"

// restartLocker is a store that nodes share and that serialises their
// restarts: postgres.Store. The lock is held from just before a node starts
// its successor until the successor is ready.
type restartLocker interface {
	LockRestart(ctx context.Context) (unlock func() error, err error)
}

// restarter restarts the process in place on SIGHUP (decision D133): the
// running process starts the binary at the same path with the same
// arguments and hands it the listening socket (cloudflare/tableflip); once
// the new process says it is ready, the old one drains and exits. Without
// Main.Restarts (tests that run serve in-process), it only listens.
type restarter struct {
	upg      *tableflip.Upgrader // nil: restarts are off
	log      *slog.Logger
	cfg      Config
	hup      chan os.Signal
	exit     chan struct{} // closed once a successor is ready
	readied  bool
	takeover time.Time // when this process, successor on the embedded store, said it was ready
}

// newRestarter returns the restarter of a process; on restarts it takes
// the sockets its predecessor passed, if any.
func newRestarter(on bool, cfg Config, log *slog.Logger) (*restarter, error) {
	r := &restarter{log: log, cfg: cfg}
	if !on {
		return r, nil
	}
	upg, err := tableflip.New(tableflip.Options{
		UpgradeTimeout: cfg.ShutdownTimeout + time.Minute,
		PIDFile:        filepath.Join(cfg.Data, pidFileName),
	})
	if err != nil {
		return nil, fmt.Errorf("serve: restarts: %w", err)
	}
	r.upg, r.exit = upg, make(chan struct{})
	r.hup = make(chan os.Signal, 1)
	signal.Notify(r.hup, syscall.SIGHUP) // from now on SIGHUP no longer kills
	return r, nil
}

// listen returns the listener of addr: the one the predecessor passed, else
// the socket systemd passed (socket activation), else a new one.
func (r *restarter) listen(addr string) (net.Listener, error) {
	if r.upg == nil {
		return net.Listen("tcp", addr)
	}
	return r.upg.ListenWithCallback("tcp", addr, func(network, addr string) (net.Listener, error) {
		if ln, err := systemdListener(); ln != nil || err != nil {
			return ln, err
		}
		return net.Listen(network, addr)
	})
}

// systemdListener returns the first socket that systemd passed (LISTEN_PID
// is this process, LISTEN_FDS at least 1: the socket is descriptor 3), or
// nil when none was passed. It unsets the variables, so that a successor
// does not take them for its own.
func systemdListener() (net.Listener, error) {
	pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if pid != os.Getpid() || n < 1 {
		return nil, nil
	}
	for _, v := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		os.Unsetenv(v)
	}
	f := os.NewFile(3, "systemd socket")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("systemd socket: %w", err)
	}
	return ln, nil
}

// successor reports whether this process was started by a restart.
func (r *restarter) successor() bool { return r.upg != nil && r.upg.HasParent() }

// awaitPredecessor, in a successor on the embedded store (which one
// process opens at a time), says it is ready at once, so that the
// predecessor drains and closes the store, and waits until the predecessor
// has exited; requests meanwhile wait in the front end. Elsewhere it
// returns at once: the successor opens the store beside its predecessor and
// says it is ready once it serves.
func (r *restarter) awaitPredecessor(ctx context.Context, embedded bool) error {
	if !r.successor() || !embedded {
		return nil
	}
	r.takeover = time.Now()
	if err := r.ready(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*r.cfg.ShutdownTimeout+10*time.Second)
	defer cancel()
	if err := r.upg.WaitForParent(ctx); err != nil {
		return fmt.Errorf("serve: restart: wait for the previous process to close the store: %w", err)
	}
	r.log.Info("previous process exited", "waited", time.Since(r.takeover).String())
	return nil
}

// ready tells the predecessor, if any, that this process is ready (it then
// drains and exits) and writes the pid file. Only the first call counts.
func (r *restarter) ready() error {
	if r.upg == nil || r.readied {
		return nil
	}
	r.readied = true
	if err := os.MkdirAll(r.cfg.Data, 0o755); err != nil {
		return fmt.Errorf("serve: pid file: %w", err)
	}
	if err := r.upg.Ready(); err != nil {
		return fmt.Errorf("serve: restart: %w", err)
	}
	return nil
}

// handedOver is closed once a successor is ready: the process then drains
// and exits. Nil (never ready) when restarts are off.
func (r *restarter) handedOver() <-chan struct{} { return r.exit }

// run restarts the process on each SIGHUP until a successor is ready or
// ctx is done. On a store that nodes share, it holds the store's restart
// lock from before starting the successor until the successor is ready,
// so that nodes restarted at once restart one after another. A successor
// that exits, or is not ready within the upgrade timeout, is logged and
// this process keeps serving.
func (r *restarter) run(ctx context.Context, store sluice.Store) {
	if r.upg == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.hup:
		}
		if err := r.restart(ctx, store); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.Error("restart failed; this process keeps serving", "err", err.Error())
			continue
		}
		close(r.exit)
		return
	}
}

// restart starts the successor and waits until it is ready.
func (r *restarter) restart(ctx context.Context, store sluice.Store) error {
	if err := r.upg.WaitForParent(ctx); err != nil { // a restart of our own predecessor's still draining
		return fmt.Errorf("wait for the previous process: %w", err)
	}
	if l, ok := store.(restartLocker); ok {
		begin := time.Now()
		r.log.Info("waiting for the restart lock")
		unlock, err := l.LockRestart(ctx)
		if err != nil {
			return err
		}
		r.log.Info("restart lock taken", "waited", time.Since(begin).String())
		defer func() {
			if err := unlock(); err != nil {
				r.log.Warn("restart lock: release", "err", err.Error())
				return
			}
			r.log.Info("restart lock released")
		}()
	}
	exe, _ := os.Executable()
	r.log.Info("restarting", "binary", exe)
	begin := time.Now()
	if err := r.upg.Upgrade(); err != nil {
		return err
	}
	r.log.Info("successor ready", "pid_file", filepath.Join(r.cfg.Data, pidFileName), "took", time.Since(begin).String())
	return nil
}

// close stops restarts, and removes the pid file unless a successor has
// taken it over.
func (r *restarter) close() {
	if r.upg == nil {
		return
	}
	signal.Stop(r.hup)
	r.upg.Stop()
	select {
	case <-r.exit:
		return
	default:
	}
	path := filepath.Join(r.cfg.Data, pidFileName)
	if b, err := os.ReadFile(path); err == nil && string(b) == strconv.Itoa(os.Getpid()) {
		os.Remove(path)
	}
}

// frontEnd serves the listener from the start; requests that come before
// the API is set (while a successor takes the embedded store over) wait
// for it, at most holdLimit, then get 503 "restarting" with Retry-After.
type frontEnd struct {
	ln     net.Listener
	hs     *http.Server
	served chan error
	log    *slog.Logger

	set       chan struct{} // closed once h is set
	h         http.Handler
	holdLimit time.Duration

	mu       sync.Mutex
	held     int       // requests that waited
	earliest time.Time // arrival of the first of them
}

// startFrontEnd serves ln at once.
func startFrontEnd(ln net.Listener, holdLimit time.Duration, log *slog.Logger) *frontEnd {
	fe := &frontEnd{ln: ln, served: make(chan error, 1), log: log, set: make(chan struct{}), holdLimit: holdLimit}
	fe.hs = newHTTPServer(fe, log)
	go func() { fe.served <- fe.hs.Serve(ln) }()
	return fe
}

// addr is the address it listens on.
func (fe *frontEnd) addr() string { return fe.ln.Addr().String() }

// open sends requests, the held ones first, to h; takeover, when not zero,
// is when this process started holding them, for the log.
func (fe *frontEnd) open(h http.Handler, takeover time.Time) {
	fe.h = h
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
	select {
	case <-fe.set:
	default:
		if !fe.hold(r) {
			p := &httpapi.Problem{Status: http.StatusServiceUnavailable, Code: "restarting", Title: http.StatusText(http.StatusServiceUnavailable),
				Detail: "the server is taking the store over from its previous process; retry later", RetryAfter: time.Second}
			p.ServeHTTP(w, r)
			return
		}
	}
	fe.h.ServeHTTP(w, r)
}

// hold waits until the handler is set; false when the request ended or
// waited holdLimit first.
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
