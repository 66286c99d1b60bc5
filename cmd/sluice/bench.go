package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/postgres"
)

const benchUsage = `Usage: sluice bench [flags]
       sluice bench suite [--duration D] [--postgres URL] [--json]
       sluice bench subscribe [--spawn [--store URL] | --url URL --key KEY] [flags]
       sluice bench sinks [--hang] [--rate R] [--duration D] [--drain N] [--json]

Sends events to a running sluice (or any URL that takes POSTed JSON) and
measures: requests/s and events/s accepted, latency p50/p90/p99/max, answers
by status and, with --spawn, the server's CPU seconds and peak resident
memory. Progress (a line a second) goes to stderr when it is a terminal,
the report to stdout.

  --url URL          the ingest URL (default http://127.0.0.1:7070/v1/events)
  --key KEY          a write key, sent as Authorization: Bearer
                     (SLUICE_BENCH_KEY; default none)
  --batch N          events per request: 1 sends one envelope, N>1 a JSON
                     array of N (default 1)
  --async            ?ack=async: answered once validated and queued
                     (default durable: answered after the commit)
  --connections N    concurrent connections (default 64)
  --duration D       stop after D (default 10s unless --events is given)
  --events N         stop once N events are sent (whichever comes first)
  --rate R           requests per second in total, open-loop: each request
                     is due at its time whether or not earlier ones were
                     answered, and goes when a connection is free; a late
                     one's latency counts from when it was due (default 0:
                     as fast as the connections go)
  --kind KIND        page_view, web_vital, order or mixed (default page_view)
  --event-bytes N    approximate size of one event's JSON (default 400)
  --invalid SHARE    share of events (0 to 1) that break the kind's schema:
                     a negative price, a missing member, a bad email...
                     (default 0)
  --schema           register the kind's schema first (needs --admin-key)
  --admin-key KEY    an admin key (SLUICE_BENCH_ADMIN_KEY; default none)
  --spawn            start "sluice serve" (this binary) in a new temporary
                     data directory, with keys of its own, on a free port;
                     report its CPU and memory; stop it with SIGTERM. Its
                     environment has no SLUICE_ variable but the keys and
                     the store, so runs are comparable.
  --store URL        with --spawn: a postgres:// URL; the server uses a new
                     schema, dropped at the end (default: the embedded store)
  --data-dir DIR     with --spawn: where the temporary directories go
                     (default the system's temporary directory)
  --json             print the result as JSON instead of the report
  --progress         show progress on stderr even when it is not a terminal

Events have no id (the server assigns one), so that the bodies, made before
the clock starts and sent in turn, store new events every time.

"sluice bench suite" runs the standard scenarios, each against a new server
it spawns, and the baselines in the same run, and prints one table with the
ratio of each scenario to its baseline:

  HTTP ceiling      a bare net/http handler (this binary again) that reads
                    the body and answers 202, single events and batches
  durable ceiling   the same handler handing each body to one goroutine
                    that appends whatever has queued to a file with one
                    write and one fdatasync, then answers 200: the least a
                    durable ingest does, single events and batches
  database ceiling  a raw COPY of the same rows, 500 per transaction, into
                    a bare table with the log's indexes (needs --postgres)

  scenarios         embedded and PostgreSQL × single events durable, async,
                    batches of 500 durable, and with the kind's schema;
                    durable rows are compared with the durable ceiling
                    (PostgreSQL's batches with COPY), async ones with the
                    bare handler, by events/s and by p99; every row gives
                    the server's CPU seconds per million events

  --duration D       each scenario's and baseline's length (default 10s)
  --connections N    connections of single events (default 64)
  --batch-connections N  connections of batches (default 16)
  --event-bytes N    (default 400)
  --postgres URL     the PostgreSQL of the PostgreSQL rows and of the COPY
                     baseline; without it they are left out
  --data-dir DIR     where the temporary directories go
  --json             print the rows as JSON instead of the table

"sluice bench subscribe" measures the consumer side: it ingests at a steady
--rate, durable, while a subscriber follows a new subscription over HTTP
(long polls of 200ms, an acknowledgement per batch) and a writer appends one
event --waits times a second and waits for the subscription to process it
(read-your-writes). It reports, per event, the time from the durable
acknowledgement of its ingest request to its delivery to the subscriber,
and, per wait, the time from the subscriber's acknowledgement to the wait's
return.

  --url URL          the server's base URL (default http://127.0.0.1:7070)
  --key KEY          an admin key (SLUICE_BENCH_ADMIN_KEY)
  --spawn, --store URL, --data-dir DIR   as above
  --rate R           events per second (default 10000)
  --batch N          events per ingest request (default 10)
  --connections N    ingest connections (default 16)
  --duration D       (default 10s)
  --waits R          writes waited for per second (default 100)
  --json             print the result as JSON

"sluice bench sinks" measures delivery to sinks: it starts receivers in
this process (a webhook receiver and a file it tails) and a server (this
binary, embedded store) with a webhook sink and a file sink to them, then
ingests at a steady --rate and reports, per sink, the time from each
event's commit to its arrival, beside the ingest requests' own latency;
then, for each sink in turn, pauses it, fills the log with --drain events,
resumes it and reports how fast it delivers them and the server's CPU
seconds per million events.

  --rate R, --batch N, --connections N, --duration D   the steady ingest
                     (defaults 10000 events/s, 10, 16, 10s)
  --drain N          events of each drain (default 200000)
  --hang             also configure a webhook sink to a receiver that holds
                     every request without answering: the other sinks'
                     figures and the ingest's must not change
  --data-dir DIR     where the temporary directories go
  --json             print the result as JSON

docs/benchmarks.md has the latest table and how it was made.
`

// BenchCommand is "sluice bench".
type BenchCommand struct{ *Main }

// Run runs a benchmark, the suite, or (hidden, for the suite) the bare
// handler.
func (c *BenchCommand) Run(ctx context.Context, args []string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(args) > 0 {
		switch args[0] {
		case "suite":
			return c.suite(ctx, args[1:])
		case "subscribe":
			return c.benchSubscribe(ctx, args[1:])
		case "sinks":
			return c.benchSinks(ctx, args[1:])
		case bareHandlerMode:
			return c.bare(ctx, args[1:])
		}
	}
	return c.single(ctx, args)
}

// benchFlags are the flags of "sluice bench".
type benchFlags struct {
	cfg                  bench.Config
	adminKey             string
	schema, spawn, jsonf bool
	progress             bool
	store, dataDir       string
}

// single runs one benchmark as args say.
func (c *BenchCommand) single(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var f benchFlags
	fs.StringVar(&f.cfg.URL, "url", "http://127.0.0.1:7070/v1/events", "")
	fs.StringVar(&f.cfg.Key, "key", "", "")
	fs.IntVar(&f.cfg.Batch, "batch", 1, "")
	fs.BoolVar(&f.cfg.Async, "async", false, "")
	fs.IntVar(&f.cfg.Connections, "connections", bench.DefaultConnections, "")
	fs.DurationVar(&f.cfg.Duration, "duration", 0, "")
	fs.IntVar(&f.cfg.Events, "events", 0, "")
	fs.Float64Var(&f.cfg.Rate, "rate", 0, "")
	fs.StringVar(&f.cfg.Kind, "kind", bench.DefaultKind, "")
	fs.IntVar(&f.cfg.EventBytes, "event-bytes", bench.DefaultEventBytes, "")
	fs.Float64Var(&f.cfg.Invalid, "invalid", 0, "")
	fs.BoolVar(&f.schema, "schema", false, "")
	fs.StringVar(&f.adminKey, "admin-key", "", "")
	fs.BoolVar(&f.spawn, "spawn", false, "")
	fs.StringVar(&f.store, "store", "", "")
	fs.StringVar(&f.dataDir, "data-dir", "", "")
	fs.BoolVar(&f.jsonf, "json", false, "")
	fs.BoolVar(&f.progress, "progress", false, "")
	if err := c.parseFlags(fs, args, benchUsage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("bench: unexpected argument %q; see 'sluice help bench'", fs.Arg(0))
	}
	if !flagSet(fs, "key") {
		f.cfg.Key, _ = c.LookupEnv("SLUICE_BENCH_KEY")
	}
	if !flagSet(fs, "admin-key") {
		f.adminKey, _ = c.LookupEnv("SLUICE_BENCH_ADMIN_KEY")
	}
	if f.cfg.Duration == 0 && f.cfg.Events == 0 {
		f.cfg.Duration = bench.DefaultDuration
	}
	var problems []error
	if f.spawn && flagSet(fs, "url") {
		problems = append(problems, errors.New("--url and --spawn: give one (--spawn makes the URL)"))
	}
	if !f.spawn && (f.store != "" || f.dataDir != "") {
		problems = append(problems, errors.New("--store and --data-dir need --spawn"))
	}
	if f.schema && !f.spawn && f.adminKey == "" {
		problems = append(problems, errors.New("--schema needs --admin-key (or SLUICE_BENCH_ADMIN_KEY)"))
	}
	if f.spawn {
		f.cfg.URL = "http://127.0.0.1:1/v1/events" // validated now, replaced once spawned
	}
	if err := f.cfg.Validate(); err != nil {
		problems = append(problems, unjoin(err)...)
	}
	if len(problems) > 0 {
		return usageErrorf("bench: %v; see 'sluice help bench'", errors.Join(problems...))
	}
	if f.progress || isTerminal(c.Stderr) {
		f.cfg.Progress = c.Stderr
	}

	var srv *spawned
	if f.spawn {
		var err error
		srv, err = spawn(ctx, spawnOptions{store: f.store, dataDir: f.dataDir})
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer srv.close()
		f.cfg.URL, f.cfg.Key, f.adminKey = srv.base+"/v1/events", srv.writeKey, srv.adminKey
	}
	if f.schema {
		if err := registerSchemas(ctx, f.cfg.URL, f.adminKey, f.cfg.Kind); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	var res bench.Result
	server, err := watched(srv, func() (err error) {
		res, err = bench.Run(ctx, f.cfg)
		return err
	})
	res.Server = server
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("bench: %w", err)
	}
	if f.jsonf {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printReport(c.Stdout, f.cfg, res)
	return nil
}

// printReport writes res for people.
func printReport(w io.Writer, cfg bench.Config, res bench.Result) {
	ack := "durable"
	if cfg.Async {
		ack = "async"
	}
	limit := cfg.Duration.String()
	if cfg.Events > 0 {
		limit = fmt.Sprintf("%s events or %s", bench.Thousands(float64(cfg.Events)), limit)
	}
	rate := "open throttle"
	if cfg.Rate > 0 {
		rate = fmt.Sprintf("%s requests/s", bench.Thousands(cfg.Rate))
	}
	fmt.Fprintf(w, "sluice bench: %s events of ~%d bytes, %d per request, %s, %d connections, %s, %s; %.0f%% invalid\n",
		cfg.Kind, cfg.EventBytes, max(cfg.Batch, 1), ack, cfg.Connections, rate, limit, cfg.Invalid*100)
	fmt.Fprintf(w, "  elapsed    %s\n", res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  requests   %s sent, %s/s accepted\n", bench.Thousands(float64(res.Requests)), bench.Thousands(res.RequestsPerSec))
	fmt.Fprintf(w, "  events     %s sent, %s/s accepted\n", bench.Thousands(float64(res.Events)), bench.Thousands(res.EventsPerSec))
	fmt.Fprintf(w, "  latency    %s (all answers)\n", formatLatency(res.Latency))
	fmt.Fprintf(w, "             %s (2xx answers)\n", formatLatency(res.AcceptedLatency))
	fmt.Fprintf(w, "  status     %s\n", formatStatus(res.Status))
	if res.MissingRetryAfter > 0 {
		fmt.Fprintf(w, "  warning    %d answers 429 or 503 without Retry-After\n", res.MissingRetryAfter)
	}
	if res.Late > 0 {
		fmt.Fprintf(w, "  late       %d requests started late for want of a free connection\n", res.Late)
	}
	if res.Server != nil {
		fmt.Fprintf(w, "  server     %.1f CPU seconds, peak RSS %.1f MiB\n", res.Server.CPUSeconds, float64(res.Server.PeakRSSBytes)/(1<<20))
	}
}

// formatLatency writes l in milliseconds.
func formatLatency(l bench.Latency) string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
}

// ms writes d in milliseconds with two decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// formatStatus writes the answers by status, 0 as "transport error".
func formatStatus(status map[int]int) string {
	if len(status) == 0 {
		return "no answer"
	}
	codes := make([]int, 0, len(status))
	for code := range status {
		codes = append(codes, code)
	}
	slices.Sort(codes)
	var parts []string
	for _, code := range codes {
		name := fmt.Sprint(code)
		if code == 0 {
			name = "transport error"
		}
		parts = append(parts, fmt.Sprintf("%s: %s", name, bench.Thousands(float64(status[code]))))
	}
	return strings.Join(parts, ", ")
}

// registerSchemas registers the schema of each type of kind's events with
// the server that ingestURL belongs to.
func registerSchemas(ctx context.Context, ingestURL, adminKey, kind string) error {
	u, err := url.Parse(ingestURL)
	if err != nil {
		return fmt.Errorf("register schema: %w", err)
	}
	for _, k := range []string{bench.KindPageView, bench.KindWebVital, bench.KindOrder} {
		if kind != k && kind != bench.KindMixed {
			continue
		}
		u.Path, u.RawQuery = "/v1/schemas/"+bench.EventType(k), ""
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), strings.NewReader(string(bench.Schema(k))))
		if err != nil {
			return fmt.Errorf("register schema: %w", err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("register schema: %w", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("register schema %s: %s: %s", bench.EventType(k), resp.Status, body)
		}
	}
	return nil
}

// spawnOptions say what spawn starts.
type spawnOptions struct {
	bare    bool   // the bare handler instead of sluice serve
	durable bool   // with bare: the durable ceiling (bench_ceiling.go)
	store   string // a PostgreSQL URL; "": the embedded store
	dataDir string // where the temporary directory goes; "": os.TempDir()
	config  string // a configuration file's YAML; "": none
}

// spawned is a server that spawn started.
type spawned struct {
	cmd                *exec.Cmd
	base               string // http://127.0.0.1:port
	adminKey, writeKey string
	dir                string // its temporary directory
	store, pgSchema    string // its PostgreSQL and schema, if any
	log                *logTail
	exited             chan struct{}
	err                error // how it exited, once exited is closed
	stopOnce           sync.Once
	stopErr            error
}

// watched runs run while it watches srv's CPU and memory, then stops srv;
// it returns what it saw (nil without srv) and run's error, or stop's.
func watched(srv *spawned, run func() error) (*bench.ProcStats, error) {
	if srv == nil {
		return nil, run()
	}
	watch := bench.WatchProcess(srv.pid())
	err := run()
	ps := watch()
	if serr := srv.stop(); serr != nil && err == nil {
		err = serr
	}
	return &ps, err
}

// spawnTimeout bounds the wait for a spawned server to listen (PostgreSQL
// migrations included).
const spawnTimeout = 60 * time.Second

// spawn starts this binary's "serve" (or the bare handler) on a free
// loopback port, in a new temporary directory, with new keys, and waits
// until it listens. Its environment is this process's without any
// SLUICE_ variable, plus the keys and the store.
func spawn(ctx context.Context, opts spawnOptions) (*spawned, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("spawn: %w", err)
	}
	dir, err := os.MkdirTemp(opts.dataDir, "sluice-bench-")
	if err != nil {
		return nil, fmt.Errorf("spawn: %w", err)
	}
	s := &spawned{dir: dir, adminKey: httpapi.NewSecret(httpapi.RoleAdmin), writeKey: httpapi.NewSecret(httpapi.RoleWrite), log: &logTail{}, exited: make(chan struct{})}
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data")}
	if opts.bare {
		args = []string{"bench", bareHandlerMode, "--listen", "127.0.0.1:0"}
		if opts.durable {
			args = append(args, "--durable", dir)
		}
	}
	if opts.config != "" {
		path := filepath.Join(dir, "sluice.yaml")
		if err := os.WriteFile(path, []byte(opts.config), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("spawn: %w", err)
		}
		args = append(args, "--config", path)
	}
	s.cmd = exec.Command(exe, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			s.cmd.Env = append(s.cmd.Env, kv)
		}
	}
	s.cmd.Env = append(s.cmd.Env, "SLUICE_ADMIN_KEY="+s.adminKey, "SLUICE_WRITE_KEY="+s.writeKey)
	if opts.store != "" && !opts.bare {
		var b [6]byte
		_, _ = rand.Read(b[:])
		s.store, s.pgSchema = opts.store, "sluice_bench_"+hex.EncodeToString(b[:])
		s.cmd.Env = append(s.cmd.Env, "SLUICE_STORE="+s.store, "SLUICE_POSTGRES_SCHEMA="+s.pgSchema)
	}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("spawn: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("spawn: %w", err)
	}
	listening := make(chan string, 1)
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.log.add(sc.Text())
			if addr := listeningAddr(sc.Text()); addr != "" {
				select {
				case listening <- addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() {
		<-logged // Wait closes the pipe: read it all first
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	timer := time.NewTimer(spawnTimeout)
	defer timer.Stop()
	select {
	case addr := <-listening:
		s.base = "http://" + addr
		return s, nil
	case <-s.exited:
		err = fmt.Errorf("spawn: the server exited before listening (%v); its log:\n%s", s.err, s.log)
	case <-timer.C:
		err = fmt.Errorf("spawn: the server did not listen within %s; its log:\n%s", spawnTimeout, s.log)
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.close()
	return nil, err
}

// pid is the server's process id.
func (s *spawned) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM and waits for the server to exit, at most a minute,
// then kills it. It returns an error when the server did not exit 0.
func (s *spawned) stop() error {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		timer := time.NewTimer(time.Minute)
		defer timer.Stop()
		select {
		case <-s.exited:
			if s.err != nil {
				s.stopErr = fmt.Errorf("the server exited with %v; its log:\n%s", s.err, s.log)
			}
		case <-timer.C:
			_ = s.cmd.Process.Kill()
			<-s.exited
			s.stopErr = fmt.Errorf("the server did not exit within a minute of SIGTERM; killed; its log:\n%s", s.log)
		}
	})
	return s.stopErr
}

// close stops the server if it runs, and removes its directory and its
// PostgreSQL schema.
func (s *spawned) close() {
	_ = s.stop()
	os.RemoveAll(s.dir)
	if s.pgSchema != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = postgres.DropSchema(ctx, s.store, s.pgSchema)
	}
}

// listeningAddr returns the address of a JSON log line that says
// "listening", or "".
func listeningAddr(line string) string {
	var rec struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
		return rec.Addr
	}
	return ""
}

// logTail keeps the last lines of a spawned server's log, for errors.
type logTail struct {
	mu    sync.Mutex
	lines []string
}

// logTailLines is how many lines a logTail keeps.
const logTailLines = 40

func (l *logTail) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	if len(l.lines) > logTailLines {
		l.lines = l.lines[len(l.lines)-logTailLines:]
	}
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// suiteRow is one line of the suite's table: a baseline or a scenario.
type suiteRow struct {
	Name string `json:"name"`
	// Result is the load's, for the rows measured over HTTP.
	Result *bench.Result `json:"result,omitempty"`
	// EventsPerSec is the accepted events per second (for every row).
	EventsPerSec float64 `json:"events_per_sec"`
	// Baseline names the row the ratio is taken to; "" for baselines.
	Baseline string `json:"baseline,omitempty"`
	// Ratio is EventsPerSec over the baseline's.
	Ratio float64 `json:"ratio,omitempty"`
	// P99Ratio is the p99 of the 2xx answers over the baseline's.
	P99Ratio float64 `json:"p99_ratio,omitempty"`
	// CPUPerMillion is the server's CPU seconds per million events
	// accepted.
	CPUPerMillion float64 `json:"cpu_seconds_per_million_events,omitempty"`
	// Refused counts the 503 answers (with Retry-After) of the load.
	Refused int `json:"refused,omitempty"`
	// Error says why the row was not measured.
	Error string `json:"error,omitempty"`
}

// suiteScenario is a row of the suite measured over HTTP.
type suiteScenario struct {
	name        string
	spawn       spawnOptions
	batch       int
	connections int
	async       bool
	schema      bool
	baseline    string
}

// Names of the suite's baselines.
const (
	baseBareSingle    = "HTTP ceiling: bare handler, single events"
	baseBareBatch     = "HTTP ceiling: bare handler, batches of 500"
	baseDurableSingle = "durable ceiling: group write + fdatasync, single events"
	baseDurableBatch  = "durable ceiling: group write + fdatasync, batches of 500"
	baseCopy          = "database ceiling: raw COPY, 500 per transaction"
)

// baselineShort names the baselines in the table's baseline column.
var baselineShort = map[string]string{
	baseBareSingle:    "bare handler",
	baseBareBatch:     "bare handler, batches",
	baseDurableSingle: "durable ceiling",
	baseDurableBatch:  "durable ceiling, batches",
	baseCopy:          "COPY",
}

// suiteBatch is the batch size of the suite's batch scenarios.
const suiteBatch = 500

// suiteBatchConnections is the default connections of the batch rows: 16,
// as issue 16 measures them (64 batches of 500 in flight queue 32,000
// events behind one another and measure the queue, not the path).
const suiteBatchConnections = 16

// suite runs the standard scenarios and baselines and prints the table.
func (c *BenchCommand) suite(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	duration := fs.Duration("duration", bench.DefaultDuration, "")
	connections := fs.Int("connections", bench.DefaultConnections, "")
	batchConnections := fs.Int("batch-connections", suiteBatchConnections, "")
	eventBytes := fs.Int("event-bytes", bench.DefaultEventBytes, "")
	pgURL := fs.String("postgres", "", "")
	dataDir := fs.String("data-dir", "", "")
	jsonf := fs.Bool("json", false, "")
	if err := c.parseFlags(fs, args, benchUsage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("bench suite: unexpected argument %q; see 'sluice help bench'", fs.Arg(0))
	}
	if *duration <= 0 || *connections <= 0 || *batchConnections <= 0 || *eventBytes <= 0 {
		return usageErrorf("bench suite: --duration, --connections, --batch-connections and --event-bytes must be positive")
	}
	loadBefore := loadAverage()
	started := time.Now()
	base := bench.Config{Connections: *connections, Duration: *duration, Kind: bench.KindPageView, EventBytes: *eventBytes}

	// The baselines over HTTP, then the scenarios: durable ones against
	// the durable ceiling (PostgreSQL's batches against its COPY), async
	// ones against the bare handler.
	one, many := *connections, *batchConnections
	ceiling := spawnOptions{bare: true, durable: true, dataDir: *dataDir}
	scenarios := []suiteScenario{
		{name: baseBareSingle, spawn: spawnOptions{bare: true}, batch: 1, connections: one},
		{name: baseBareBatch, spawn: spawnOptions{bare: true}, batch: suiteBatch, connections: many},
		{name: baseDurableSingle, spawn: ceiling, batch: 1, connections: one},
		{name: baseDurableBatch, spawn: ceiling, batch: suiteBatch, connections: many},
	}
	baselines := len(scenarios)
	stores := []struct{ name, url, batchBaseline string }{{"embedded", "", baseDurableBatch}}
	if *pgURL != "" {
		stores = append(stores, struct{ name, url, batchBaseline string }{"PostgreSQL", *pgURL, baseCopy})
	}
	for _, st := range stores {
		opts := spawnOptions{store: st.url, dataDir: *dataDir}
		scenarios = append(scenarios,
			suiteScenario{name: st.name + ", single events, durable", spawn: opts, batch: 1, connections: one, baseline: baseDurableSingle},
			suiteScenario{name: st.name + ", single events, async", spawn: opts, batch: 1, connections: one, async: true, baseline: baseBareSingle},
			suiteScenario{name: st.name + ", batches of 500, durable", spawn: opts, batch: suiteBatch, connections: many, baseline: st.batchBaseline},
			suiteScenario{name: st.name + ", batches of 500, durable, schema", spawn: opts, batch: suiteBatch, connections: many, schema: true, baseline: st.batchBaseline},
		)
	}

	var rows []suiteRow
	measure := func(name string, f func() (suiteRow, error)) {
		fmt.Fprintf(c.Stderr, "bench suite: %s ...\n", name)
		row, err := f()
		row.Name = name
		if err != nil {
			row.Error = err.Error()
			fmt.Fprintf(c.Stderr, "bench suite: %s: %v\n", name, err)
		} else {
			fmt.Fprintf(c.Stderr, "bench suite: %s: %s events/s\n", name, bench.Thousands(row.EventsPerSec))
		}
		rows = append(rows, row)
	}
	for _, sc := range scenarios[:baselines] {
		measure(sc.name, func() (suiteRow, error) { return c.suiteRun(ctx, base, sc) })
	}
	if *pgURL != "" {
		measure(baseCopy, func() (suiteRow, error) { return copyBaseline(ctx, *pgURL, *duration, *eventBytes) })
	}
	for _, sc := range scenarios[baselines:] {
		if ctx.Err() != nil {
			break
		}
		measure(sc.name, func() (suiteRow, error) { return c.suiteRun(ctx, base, sc) })
	}
	byName := map[string]suiteRow{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	failed := 0
	for i, r := range rows {
		if r.Error != "" {
			failed++
		}
		if b, ok := byName[r.Baseline]; ok && b.EventsPerSec > 0 {
			rows[i].Ratio = r.EventsPerSec / b.EventsPerSec
			if r.Result != nil && b.Result != nil && b.Result.AcceptedLatency.P99 > 0 {
				rows[i].P99Ratio = float64(r.Result.AcceptedLatency.P99) / float64(b.Result.AcceptedLatency.P99)
			}
		}
	}

	meta := suiteMeta{
		Started: started.UTC().Format(time.RFC3339), CPUs: runtime.NumCPU(), LoadBefore: loadBefore, LoadAfter: loadAverage(),
		Duration: duration.String(), Connections: one, BatchConnections: many, EventBytes: *eventBytes, PostgreSQL: *pgURL != "",
	}
	if *jsonf {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Meta suiteMeta  `json:"meta"`
			Rows []suiteRow `json:"rows"`
		}{meta, rows}); err != nil {
			return err
		}
	} else {
		printSuite(c.Stdout, meta, rows, byName)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bench suite: %w", err)
	}
	if failed > 0 {
		return fmt.Errorf("bench suite: %d row(s) not measured", failed)
	}
	return nil
}

// suiteMeta describes a run of the suite.
type suiteMeta struct {
	Started     string `json:"started"`
	CPUs        int    `json:"cpus"`
	LoadBefore  string `json:"load_before"` // /proc/loadavg's first three fields
	LoadAfter   string `json:"load_after"`
	Duration    string `json:"duration"`
	Connections int    `json:"connections"`
	// BatchConnections are the connections of the batch rows.
	BatchConnections int  `json:"batch_connections"`
	EventBytes       int  `json:"event_bytes"`
	PostgreSQL       bool `json:"postgresql"`
}

// suiteRun spawns sc's server, loads it and stops it.
func (c *BenchCommand) suiteRun(ctx context.Context, base bench.Config, sc suiteScenario) (suiteRow, error) {
	srv, err := spawn(ctx, sc.spawn)
	if err != nil {
		return suiteRow{Baseline: sc.baseline}, err
	}
	defer srv.close()
	cfg := base
	cfg.URL, cfg.Key, cfg.Batch, cfg.Async, cfg.Connections = srv.base+"/v1/events", srv.writeKey, sc.batch, sc.async, sc.connections
	if sc.schema {
		if err := registerSchemas(ctx, cfg.URL, srv.adminKey, cfg.Kind); err != nil {
			return suiteRow{Baseline: sc.baseline}, err
		}
	}
	var res bench.Result
	res.Server, err = watched(srv, func() (err error) {
		res, err = bench.Run(ctx, cfg)
		return err
	})
	row := suiteRow{Result: &res, EventsPerSec: res.EventsPerSec, Baseline: sc.baseline}
	if accepted := res.EventsPerSec * res.Elapsed.Seconds(); res.Server != nil && accepted > 0 {
		row.CPUPerMillion = res.Server.CPUSeconds / accepted * 1e6
	}
	// 503 with Retry-After is the server refusing load it cannot commit
	// in time (admission by delay, D94): counted in the row, not a failure.
	refused := res.Status[http.StatusServiceUnavailable]
	if res.MissingRetryAfter > 0 {
		refused = 0
	}
	row.Refused = refused
	if err == nil && res.Errors() > refused {
		err = fmt.Errorf("%d of %d requests failed: %s", res.Errors()-refused, res.Requests, formatStatus(res.Status))
	}
	return row, err
}

// copyBaseline COPYs the rows of the suite's events into a bare table of a
// new schema, 500 per transaction, for d: the database's ceiling.
func copyBaseline(ctx context.Context, url string, d time.Duration, eventBytes int) (suiteRow, error) {
	row := suiteRow{}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "sluice_bench_copy_" + hex.EncodeToString(b[:])
	defer postgres.DropSchema(context.WithoutCancel(ctx), url, schema)
	rc, err := postgres.NewRawCopy(ctx, url, schema)
	if err != nil {
		return row, err
	}
	defer rc.Close(context.WithoutCancel(ctx))
	const batches = 16
	events := make([]sluice.Event, 0, batches*suiteBatch)
	for _, env := range bench.Envelopes(bench.KindPageView, batches*suiteBatch, eventBytes, 0) {
		var e sluice.Event
		if err := json.Unmarshal(env, &e); err != nil {
			return row, err
		}
		e.Source = writeKeyName // what the server records: the key's name
		events = append(events, e)
	}
	start := time.Now()
	n := 0
	for time.Since(start) < d && ctx.Err() == nil {
		batch := events[(n%batches)*suiteBatch : (n%batches+1)*suiteBatch]
		for i := range batch {
			batch[i].ID = sluice.NewID() // as the server assigns them
		}
		if err := rc.Copy(ctx, batch); err != nil {
			return row, err
		}
		n++
	}
	row.EventsPerSec = float64(n*suiteBatch) / time.Since(start).Seconds()
	return row, nil
}

// printSuite writes the suite's table in Markdown.
func printSuite(w io.Writer, meta suiteMeta, rows []suiteRow, byName map[string]suiteRow) {
	pg := "PostgreSQL rows left out (no --postgres)"
	if meta.PostgreSQL {
		pg = "PostgreSQL included"
	}
	fmt.Fprintf(w, "sluice bench suite, %s: %d CPUs, load average %s before and %s after; single events over %d connections, batches over %d, %s per row, page views of ~%d bytes; %s.\n\n",
		meta.Started, meta.CPUs, meta.LoadBefore, meta.LoadAfter, meta.Connections, meta.BatchConnections, meta.Duration, meta.EventBytes, pg)
	fmt.Fprintln(w, "| scenario | req/s | events/s | p50 | p99 | server CPU s | CPU s per M events | server peak RSS | baseline | ratio | p99 ratio |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
	for _, r := range rows {
		cells := []string{r.Name, "", bench.Thousands(r.EventsPerSec), "", "", "", "", "", baselineShort[r.Baseline], "", ""}
		if r.Result != nil {
			cells[1] = bench.Thousands(r.Result.RequestsPerSec)
			cells[3], cells[4] = ms(r.Result.AcceptedLatency.P50), ms(r.Result.AcceptedLatency.P99)
			if s := r.Result.Server; s != nil {
				cells[5] = fmt.Sprintf("%.1f", s.CPUSeconds)
				cells[7] = fmt.Sprintf("%.0f MiB", float64(s.PeakRSSBytes)/(1<<20))
			}
		}
		if r.CPUPerMillion > 0 {
			cells[6] = fmt.Sprintf("%.1f", r.CPUPerMillion)
		}
		if r.Ratio > 0 {
			cells[9] = fmt.Sprintf("%.2f", r.Ratio)
		}
		if r.P99Ratio > 0 {
			cells[10] = fmt.Sprintf("%.2f", r.P99Ratio)
		}
		if r.Refused > 0 {
			cells[2] += fmt.Sprintf(" (%s refused 503)", bench.Thousands(float64(r.Refused)))
		}
		if r.Error != "" {
			cells[2] = "failed: " + strings.ReplaceAll(strings.SplitN(r.Error, "\n", 2)[0], "|", "/")
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	fmt.Fprintln(w)
	for _, store := range []string{"embedded", "PostgreSQL"} {
		with, without := byName[store+", batches of 500, durable, schema"], byName[store+", batches of 500, durable"]
		if with.EventsPerSec > 0 && without.EventsPerSec > 0 {
			fmt.Fprintf(w, "%s, batches of 500 with the schema over without: %.2f\n", store, with.EventsPerSec/without.EventsPerSec)
		}
	}
	fmt.Fprintln(w, "Latencies are of 2xx answers; server CPU and peak RSS are the spawned server's (VmHWM), the load generator excluded.")
}

// loadAverage is the first three fields of /proc/loadavg, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}
