package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice"
)

// DefaultSchema is the schema that holds sluice's tables unless
// Options.Schema names another.
const DefaultSchema = "sluice"

// maxIdentifierBytes is PostgreSQL's limit on names (NAMEDATALEN - 1).
const maxIdentifierBytes = 63

// Options configure Open.
type Options struct {
	// URL is the database's connection string, as a URL or key=value
	// pairs; pool settings such as pool_max_conns may be given in it.
	// Required.
	URL string
	// Schema holds sluice's tables; Open creates it when it is missing.
	// Default "sluice".
	Schema string
	// Limits bound the events that Append accepts. Default
	// sluice.DefaultLimits.
	Limits sluice.Limits
	// Logger receives what the store cannot return as an error, such as the
	// loss of the connection that listens for other processes' commits.
	// Default slog.Default().
	Logger *slog.Logger
	// Release is the program's version, recorded with the migrations Open
	// applies and named when Open refuses a schema too new for it (see
	// migrate.Check). Default "dev".
	Release string
}

func (o Options) withDefaults() Options {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.Limits.MaxEventBytes <= 0 {
		o.Limits = sluice.DefaultLimits
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Release == "" {
		o.Release = "dev"
	}
	return o
}

// OptionError is one problem of Options: the field ("url", "schema") and
// what is wrong with it.
type OptionError struct {
	Field  string
	Reason string
}

func (e *OptionError) Error() string { return e.Field + ": " + e.Reason }

// Validate returns every problem of the options at once, each an
// *OptionError.
func (o Options) Validate() error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, &OptionError{"url", "is required"})
	} else if _, err := pgxpool.ParseConfig(o.URL); err != nil {
		errs = append(errs, &OptionError{"url", err.Error()})
	}
	if len(o.Schema) > maxIdentifierBytes {
		errs = append(errs, &OptionError{"schema", fmt.Sprintf("is %d bytes, at most %d allowed", len(o.Schema), maxIdentifierBytes)})
	}
	return errors.Join(errs...)
}

// Store is a sluice.Store in a PostgreSQL schema. It is safe for concurrent
// use, and any number of Stores, in any number of processes, may share one
// schema.
type Store struct {
	pool              *pgxpool.Pool
	listen            *pgx.ConnConfig // for the connection that LISTENs
	channel           string          // where commits announce the head
	checkpointChannel string          // where checkpoint changes announce the consumer's name
	limits            sluice.Limits
	logger            *slog.Logger

	notifier    sluice.HeadNotifier
	checkpoints sluice.Signals // wakes WaitCheckpoint, by consumer name

	closed    atomic.Bool
	closeOnce sync.Once
	done      context.Context    // done once Close is called: stops the listener, wakes waiters
	stop      context.CancelFunc // makes done done
	listening chan struct{}      // closed when the listener has returned
}

var _ sluice.Store = (*Store)(nil)

// defaultConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout.
const defaultConnectTimeout = 5 * time.Second

// Open connects to the database, creates the schema and applies the
// migrations it lacks, and starts listening for the commits of other
// processes.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// Every connection, the listener's too, resolves names in the schema.
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	// A database that does not answer (a partition, not a refusal) would
	// hold a connection attempt for the operating system's TCP timeout,
	// and every request behind it; connect_timeout in the URL overrides.
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{
		pool:              pool,
		listen:            cfg.ConnConfig.Copy(),
		channel:           notifyChannel("sluice_head_", opts.Schema),
		checkpointChannel: notifyChannel("sluice_ckpt_", opts.Schema),
		limits:            opts.Limits,
		logger:            opts.Logger,
		listening:         make(chan struct{}),
	}
	if err := s.start(ctx, opts.Schema, opts.Release); err != nil {
		pool.Close()
		return nil, s.fail("open postgres", err)
	}
	return s, nil
}

// start migrates the schema, publishes the head and starts the listener.
func (s *Store) start(ctx context.Context, schema, release string) error {
	if err := applyMigrations(ctx, s.pool, schema, release); err != nil {
		return err
	}
	var head int64
	if err := s.pool.QueryRow(ctx, selectHead).Scan(&head); err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	s.notifier.Publish(sluice.Position(head))
	s.done, s.stop = context.WithCancel(context.Background())
	go s.listenLoop(s.done)
	return nil
}

// notifyChannel is the NOTIFY channel of a schema whose name starts with
// prefix. NOTIFY is database-wide, so each schema has channels of its own; a
// name too long for PostgreSQL is hashed.
func notifyChannel(prefix, schema string) string {
	if len(prefix)+len(schema) <= maxIdentifierBytes {
		return prefix + schema
	}
	sum := sha256.Sum256([]byte(schema))
	return prefix + hex.EncodeToString(sum[:16])
}

// Close stops the listener and closes the connections, after the calls in
// flight return. Calls after Close, and waits in WaitHead and
// WaitCheckpoint, return sluice.ErrClosed; Close may be called more than
// once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.checkpoints.NotifyAll()
		s.stop()
		<-s.listening
		s.pool.Close()
	})
	return nil
}

// checkOpen returns sluice.ErrClosed, wrapped in op, once the store is
// closed.
func (s *Store) checkOpen(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, sluice.ErrClosed)
	}
	return nil
}

// fail wraps a database error in op, and marks it sluice.ErrClosed when the
// store was closed under the call, sluice.ErrUnavailable when the database
// could not be reached or could not do the work.
func (s *Store) fail(op string, err error) error {
	switch {
	case s.closed.Load():
		return fmt.Errorf("%s: %w: %w", op, sluice.ErrClosed, err)
	case unavailable(err):
		return fmt.Errorf("%s: %w: %w", op, sluice.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether err is a failure of the connection or of the
// server rather than of the statement: worth retrying later.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == "57014" { // query_canceled: a timeout or the caller
			return false
		}
		switch pgErr.Code[:min(2, len(pgErr.Code))] {
		case "08", // connection exception
			"53", // insufficient resources: disk full, out of memory, too many connections
			"57", // operator intervention: shutdown, cannot connect now
			"58": // system error: I/O error
			return true
		}
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's, not the database's
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) // failed before anything was sent: the connection was closed
}
