package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
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

// takeOver, in a successor on the embedded store (which one process opens
// at a time), checks that this binary can run on the store's schema (a
// rollback to a binary that cannot fails here, and the predecessor keeps
// serving), then says it is ready at once, so that the predecessor stops
// using the store and closes it, and returns how long to wait for the
// store's lock; requests meanwhile wait in the front end. Elsewhere it
// returns 0 at once: the successor opens the store beside its predecessor
// and says it is ready once it serves.
func (r *restarter) takeOver(ctx context.Context, embedded bool) (lockWait time.Duration, err error) {
	if !r.successor() || !embedded {
		return 0, nil
	}
	if err := sqlite.CheckSchema(ctx, r.cfg.Data, thisRelease()); err != nil {
		return 0, fmt.Errorf("serve: %w", err)
	}
	r.takeover = time.Now()
	if err := r.ready(); err != nil {
		return 0, err
	}
	return 2*r.cfg.ShutdownTimeout + 10*time.Second, nil
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

// replaced reports whether a successor is ready.
func (r *restarter) replaced() bool {
	select {
	case <-r.exit:
		return true
	default:
		return false
	}
}

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
	// A shutdown during a restart stops it (the successor is killed)
	// instead of waiting for it.
	defer context.AfterFunc(ctx, r.upg.Stop)()
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
			r.log.Info("releasing the restart lock")
			if err := unlock(); err != nil {
				r.log.Warn("restart lock: release", "err", err.Error())
			}
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
