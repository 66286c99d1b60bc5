package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/console"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/jetstream"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/schema"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sqlite"
)

const serveUsage = `Usage: sluice serve [--listen ADDR] [--data DIR] [--store URL] [--config FILE]

Runs the HTTP API over the event log.

  --listen ADDR   the address to listen on; port 0 picks a free one
                  (SLUICE_LISTEN; default 127.0.0.1:7070)
  --data DIR      the directory of the embedded store
                  (SLUICE_DATA; default ./sluice-data)
  --store URL     a postgres:// or postgresql:// URL selects PostgreSQL;
                  nats://host:4222[,nats://host2:4222…] selects JetStream;
                  empty selects the embedded store (SLUICE_STORE; default "")
  --config FILE   the YAML configuration file (SLUICE_CONFIG; default none)

A flag beats its environment variable, which beats the configuration file,
which beats the default. Every value of the file can be set by a variable:
SLUICE_ and its path in upper case joined by _, such as
SLUICE_HTTP_LIMITS_MAX_BODY_BYTES; see docs/configuration.md.

Keys: SLUICE_ADMIN_KEY and SLUICE_WRITE_KEY define a key named admin (role
admin) and one named write (role write). With no key configured at all, the
first start creates both, keeps their SHA-256 in the store (so that nodes
sharing a database share them) and prints them once. More keys are managed
through /v1/keys.

SIGTERM or SIGINT shuts down gracefully: /readyz answers 503 (for
drain_delay while requests are still served), the listener closes, requests in flight finish, queued events are committed, the store is
closed. A second signal stops at once.

SIGHUP (or "sluice restart") restarts in place: the binary at the same path
starts with the same arguments and takes the listening socket over; once it
is ready this process drains and exits, and no connection is refused. If it
does not become ready, this process keeps serving and logs why. The pid of
the serving process is in sluice.pid in the data directory.
`

// Timeouts of the HTTP server, against clients that send slowly
// (slowloris) or hold connections open. There is no write timeout: reads
// that wait for new events may last long, and bound their own waits.
const (
	// readHeaderTimeout bounds reading a request's headers.
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds reading a whole request, body included: a 10 MiB
	// body at 175 kB/s.
	readTimeout = 60 * time.Second
	// idleTimeout bounds how long a kept-alive connection waits for its
	// next request.
	idleTimeout = 120 * time.Second
	// maxHeaderBytes bounds a request's headers.
	maxHeaderBytes = 64 << 10
)

// ServeCommand is "sluice serve".
type ServeCommand struct{ *Main }

// Run serves the HTTP API until ctx is done or a SIGTERM or SIGINT comes,
// then shuts down gracefully.
func (c *ServeCommand) Run(ctx context.Context, args []string) error {
	cfg, err := c.config(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(c.Stderr)
	tuneGC(c.LookupEnv)
	rs, err := newRestarter(c.Restarts, cfg, log)
	if err != nil {
		return err
	}
	defer rs.close()
	ln, err := rs.listen(cfg.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer ln.Close()
	fe := startFrontEnd(ln, cfg.ShutdownTimeout, log)
	defer fe.hs.Close()
	lockWait, err := rs.takeOver(ctx, cfg.Store == "")
	if err != nil {
		return err
	}
	tp, err := openTracing(ctx, cfg, log)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, log, lockWait)
	if err != nil {
		return errors.Join(err, closeTracing(tp, cfg.ShutdownTimeout))
	}
	w := sluice.NewWriter(store, cfg.writerOptions())
	registry, err := openRegistry(ctx, store, cfg, log)
	var sinks *sink.Manager
	if err == nil {
		sinks, err = openSinks(ctx, store, cfg, cfg.node(), sinkTracer(tp), log)
	}
	var api *httpapi.Server
	if err == nil {
		api, err = c.newAPI(ctx, store, w, registry, sinks, cfg, log, apiTracing(tp)...)
	}
	if err == nil {
		bctx, stopBackground := context.WithCancel(ctx)
		var background sync.WaitGroup
		background.Go(func() { registry.Run(bctx) })
		background.Go(func() { sinks.Run(bctx) })
		background.Go(func() { api.RefreshKeys(bctx) })
		if r := cfg.retention(store, log); r != nil {
			background.Go(func() { _ = r.Run(bctx) })
		}
		background.Go(func() { rs.run(bctx, store) })
		err = serve(ctx, stop, fe, api, rs, cfg, log)
		// The sinks checkpoint what they delivered and give their leases
		// up for another node.
		stopBackground()
		background.Wait()
	}
	if sinks != nil {
		err = errors.Join(err, sinks.Close())
	}
	err = errors.Join(err, closeWriter(w, cfg.ShutdownTimeout), closeStore(store), closeTracing(tp, cfg.ShutdownTimeout))
	if err == nil {
		log.Info("stopped")
	}
	if rs.replaced() { // requests on the connections left go to the successor
		fe.handOff(cfg.ShutdownTimeout)
	}
	return err
}

// config assembles the configuration: a flag beats its environment
// variable, which beats the file, which beats the default.
func (c *ServeCommand) config(args []string) (Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	def := DefaultConfig()
	listen := fs.String("listen", def.Listen, "")
	data := fs.String("data", def.Data, "")
	store := fs.String("store", def.Store, "")
	file := fs.String("config", "", "")
	if err := c.parseFlags(fs, args, serveUsage); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, usageErrorf("serve: unexpected argument %q; see 'sluice help serve'", fs.Arg(0))
	}
	if !flagSet(fs, "config") {
		*file, _ = c.LookupEnv("SLUICE_CONFIG")
	}
	cfg, err := LoadConfig(*file, c.LookupEnv)
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "listen":
			cfg.Listen = *listen
		case "data":
			cfg.Data = *data
		case "store":
			cfg.Store = *store
		}
	})
	if problems := append(unjoin(err), unjoin(cfg.Validate())...); len(problems) > 0 {
		return Config{}, invalidConfig(problems)
	}
	return cfg, nil
}

// flagSet reports whether the flag name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// invalidConfig is the error of a configuration with problems, one a line.
func invalidConfig(problems []error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid configuration, %d problem(s):", len(problems))
	for _, p := range problems {
		b.WriteString("\n  " + p.Error())
	}
	return errors.New(b.String())
}

// newAPI returns the HTTP API over store and w, with the configured keys,
// or else the generated ones (and, either way, the store's).
func (c *ServeCommand) newAPI(ctx context.Context, store sluice.Store, w *sluice.Writer, registry *schema.Registry, sinks *sink.Manager, cfg Config, log *slog.Logger, opts ...httpapi.Option) (*httpapi.Server, error) {
	if len(cfg.HTTP.Keys) == 0 {
		keys, err := generatedKeys(ctx, store, cfg.Data, c.Stderr)
		if err != nil {
			return nil, err
		}
		cfg.HTTP.Keys = keys
	}
	opts = append(opts, httpapi.WithSinks(sinks))
	if cfg.Retention.Readers == "start" {
		opts = append(opts, httpapi.WithStartAtFirst())
	}
	api, err := httpapi.New(store, w, registry, cfg.HTTP, log, opts...)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	return api, nil
}

// serve answers requests with api on fe until ctx is done, a successor
// is ready (restart) or serving fails, then drains: /readyz answers 503,
// the listener closes and requests in flight finish. stop restores the
// signals' default, so that a second one kills.
func serve(ctx context.Context, stop func(), fe *frontEnd, api *httpapi.Server, rs *restarter, cfg Config, log *slog.Logger) error {
	fe.open(withConsole(api), rs.takeover)
	log.Info("listening", append([]any{"addr", fe.addr()}, storeAttrs(cfg)...)...)
	if err := rs.ready(); err != nil {
		return err
	}

	var serveErr error
	handedOver := false
	select {
	case <-ctx.Done():
	case <-rs.handedOver():
		handedOver = true
	case err := <-fe.served:
		serveErr = fmt.Errorf("serve: %w", err)
	}
	stop()
	log.Info("shutting down", "drain_delay", cfg.DrainDelay.String(), "timeout", cfg.ShutdownTimeout.String(), "restart", handedOver)
	api.Drain()
	// /readyz says 503 while requests are still served, unless a successor
	// serves the same socket.
	if serveErr == nil && cfg.DrainDelay > 0 && !handedOver {
		select {
		case <-time.After(cfg.DrainDelay):
		case err := <-fe.served:
			serveErr = fmt.Errorf("serve: %w", err)
		}
	}
	if handedOver {
		return fe.handToSuccessor(cfg.ShutdownTimeout)
	}
	return errors.Join(serveErr, fe.shutdown(ctx, cfg.ShutdownTimeout))
}

// withConsole serves the web console at /console/ and api at every other
// path.
func withConsole(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/console/", console.Handler())
	mux.Handle("/", api)
	return mux
}

// newHTTPServer returns the HTTP server of h, with its timeouts; its own
// errors (such as TLS handshakes) are logged as warnings.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// openStore opens the store that cfg selects.
// On the embedded store it waits up to lockWait for another process to
// release the directory.
func openStore(ctx context.Context, cfg Config, log *slog.Logger, lockWait time.Duration) (sluice.Store, error) {
	if isNATS(cfg.Store) {
		o := cfg.JetStream.options(cfg.Store)
		o.Limits, o.Logger = cfg.limits(), log
		s, err := jetstream.Open(ctx, o)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if cfg.Store != "" {
		s, err := postgres.Open(ctx, postgres.Options{URL: cfg.Store, Schema: cfg.PostgresSchema, Limits: cfg.limits(), Logger: log, Release: thisRelease()})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Dir: cfg.Data, Limits: cfg.limits(), SegmentSize: cfg.SegmentSize, Logger: log, LockWait: lockWait, Release: thisRelease()})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// The garbage collector's settings unless GOGC or GOMEMLIMIT choose
// otherwise (decision D20): collecting when the heap has grown fourfold,
// not twofold, gave 16–24 % more throughput and far fewer requests over
// 100 ms under overload; the memory limit keeps the process under its
// memory target all the same.
const (
	gcPercent   = 400
	memoryLimit = 96 << 20
)

func tuneGC(lookupEnv func(string) (string, bool)) {
	if _, set := lookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if _, set := lookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// openRegistry loads the schema registry from the store, then registers the
// schemas of cfg.SchemasDir (a file whose schema is registered already
// makes no new version).
func openRegistry(ctx context.Context, store sluice.Store, cfg Config, log *slog.Logger) (*schema.Registry, error) {
	registry := schema.New(store, schema.Options{})
	if err := registry.Load(ctx); err != nil {
		return nil, fmt.Errorf("load schemas: %w", err)
	}
	if cfg.SchemasDir == "" {
		return registry, nil
	}
	n, err := registry.LoadDir(ctx, cfg.SchemasDir)
	if err != nil {
		return nil, fmt.Errorf("schemas_dir: %w", err)
	}
	log.Info("schemas loaded", "dir", cfg.SchemasDir, "new_versions", n)
	return registry, nil
}

// storeAttrs describe the store for the logs, without the URL's secrets.
func storeAttrs(cfg Config) []any {
	if cfg.Store == "" {
		return []any{"store", "sqlite", "data", cfg.Data}
	}
	if isNATS(cfg.Store) {
		return []any{"store", "jetstream", "name", cmp.Or(cfg.JetStream.Name, jetstream.DefaultName)}
	}
	pgSchema := cfg.PostgresSchema
	if pgSchema == "" {
		pgSchema = postgres.DefaultSchema
	}
	return []any{"store", "postgres", "schema", pgSchema}
}

// closeWriter commits the queued events and stops the writer, waiting at
// most timeout.
func closeWriter(w *sluice.Writer, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// closeStore closes the store.
func closeStore(s sluice.Store) error {
	if err := s.Close(); err != nil {
		return fmt.Errorf("shutdown: close store: %w", err)
	}
	return nil
}

// newLogger logs to w: as text when w is a terminal, as JSON otherwise.
func newLogger(w io.Writer) *slog.Logger {
	if isTerminal(w) {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// node is the name of this process among those sharing the store: the
// host's name, and on PostgreSQL its process id too (several processes of
// one host may share a database). The embedded store has one process at a
// time, so a process started again after a crash has the same name, and
// takes its sinks' leases back at once instead of waiting for them to
// expire.
func (c Config) node() string {
	if c.Node != "" {
		return c.Node
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "sluice"
	}
	if c.Store == "" {
		return host
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
