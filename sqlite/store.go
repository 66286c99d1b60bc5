package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
)

// Options configure Open.
type Options struct {
	// Dir is the data directory; created when missing. Required.
	Dir string
	// Limits bound what Append accepts. Default sluice.DefaultLimits.
	Limits sluice.Limits
	// Readers is the number of connections that read. Default 4.
	Readers int
	// IDIndexBatch is how many recent event ids are kept in memory before
	// they are frozen into one sorted batch for the on-disk dedupe index
	// (ids.db), which a background goroutine writes. Default 100000 (about
	// 5 MB).
	IDIndexBatch int
	// SegmentSize is the size past which the log's events go to a new
	// segment file. Default 256 MiB.
	SegmentSize int64
	// Logger receives what Open did to the log (a conversion, a recovery).
	// Default slog.Default().
	Logger *slog.Logger
	// LockWait is how long Open waits for another process to release the
	// directory (the process that a restart replaces, which closes the
	// store once its successor is ready). Default 0: fail at once.
	LockWait time.Duration
	// Release is the program's version, recorded with the migrations Open
	// applies and named when Open refuses a schema too new for it (see
	// migrate.Check). Default "dev".
	Release string
}

// SQLite's page cache per connection, as cache_size takes it (negative:
// KiB). The memory of the process is bounded by them: 16 MiB for the writer
// and 8 MiB for each reader, 4 MiB for ids.db's flusher; the operating
// system caches the files as well.
const (
	writerCacheKiB = "-16384"
	readerCacheKiB = "-8192"
	idsCacheKiB    = "-4096"
)

// Store is a sluice.Store in a directory on disk.
type Store struct {
	dir  string
	lock *os.File
	w    *sql.DB   // the writing database: one connection, wc
	wc   *sql.Conn // held for the store's life; see inTx
	r    *sql.DB   // readers
	// reads is r with its statements prepared once; reads go through it.
	reads readers
	ck    *sql.DB // the checkpointer's connection
	// stopCheckpoints ends the checkpointer, which closes checkpointed.
	stopCheckpoints context.CancelFunc
	checkpointed    chan struct{}
	limits          sluice.Limits
	log             *slog.Logger
	notify          sluice.HeadNotifier
	checkpoints     sluice.Signals // wakes WaitCheckpoint, by consumer name
	ckpts           checkpointCache
	statuses        sinkStatuses

	// closed is set by Close, under mu; readers check it without mu, so
	// that they never wait for a commit in flight.
	closed atomic.Bool
	// done ends when Close is called (stop): it wakes WaitHead.
	done context.Context
	stop context.CancelFunc

	// first is the log's first position (retention.go), moved by Trim.
	first atomic.Uint64
	// trimMu serializes Trim and Backup: a backup copies segment files
	// that a trim would remove.
	trimMu sync.Mutex

	mu   sync.Mutex // serializes writes; guards the fields below
	head sluice.Position
	segs *segments // the files the events are in
	// broken is why Append refuses to write until the store is reopened:
	// see Append.
	broken error
	ids    idIndex
	// nextStreamID is the id the next new stream gets.
	nextStreamID int64
	stmts        map[string]*sql.Stmt // prepared on w, by SQL text
	// chunkBuf is reused to encode chunks (SQLite copies what it binds).
	chunkBuf []byte
}

var _ sluice.Store = (*Store)(nil)

// Open opens (creating if needed) the log in opts.Dir and applies its
// migrations.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("open sqlite store: no directory given")
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.IDIndexBatch <= 0 {
		opts.IDIndexBatch = 100_000
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = 256 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Release == "" {
		opts.Release = "dev"
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	lock, err := lockDir(ctx, opts.Dir, opts.LockWait)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: opts.Dir, lock: lock, limits: opts.Limits, log: opts.Logger, stmts: map[string]*sql.Stmt{}}
	s.ckpts.pos, s.ckpts.dirty = map[string]sluice.Position{}, map[string]sluice.Position{}
	s.done, s.stop = context.WithCancel(context.Background())
	s.ids.flushAt = opts.IDIndexBatch
	if err := s.open(ctx, opts.Readers, opts.SegmentSize, opts.Release); err != nil {
		s.closeAll()
		return nil, fmt.Errorf("open sqlite store %s: %w", opts.Dir, err)
	}
	s.notify.Publish(s.head)
	return s, nil
}

// lockDir takes an exclusive lock on the directory's LOCK file, so that a
// second process cannot open the same log; while another process holds
// it, it tries again every lockPoll for up to wait.
func lockDir(ctx context.Context, dir string, wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || !time.Now().Before(deadline) || ctx.Err() != nil {
			f.Close()
			return nil, fmt.Errorf("open sqlite store: %s is in use by another process: %w", dir, err)
		}
		time.Sleep(lockPoll)
	}
}

// lockPoll is how often lockDir tries again: a restart's pause on the
// embedded store is at least the time from the predecessor's release to
// the next try.
const lockPoll = time.Millisecond

func (s *Store) open(ctx context.Context, readers int, segmentSize int64, release string) error {
	path := filepath.Join(s.dir, "sluice.db")
	var err error
	if s.w, err = sql.Open(driverName, dsn(path, false)); err != nil {
		return err
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	if s.wc, err = s.w.Conn(ctx); err != nil {
		return err
	}
	if _, err := s.wc.ExecContext(ctx, "PRAGMA wal_autocheckpoint="+walFrames); err != nil { // see checkpoint.go
		return err
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if err := checkSchema(ctx, s.wc, ms, release); err != nil { // before anything is written
		return err
	}
	if err := s.ids.open(ctx, s.dir); err != nil { // before migration 007 drops the old id_index
		return err
	}
	if err := s.migrate(ctx, ms, release); err != nil {
		return err
	}
	segDir := filepath.Join(s.dir, "segments")
	if err := s.convert(ctx, segDir, segmentSize); err != nil {
		return err
	}
	segs, firsts, err := openSegments(segDir, segmentSize)
	if err != nil {
		return err
	}
	s.segs = segs
	if s.r, err = sql.Open(driverName, dsn(path, true)); err != nil {
		return err
	}
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	s.reads.db = s.r
	if s.ck, err = sql.Open(driverName, dsn(path, false)); err != nil {
		return err
	}
	conn, err := s.ck.Conn(ctx)
	if err != nil {
		return err
	}
	var cctx context.Context
	cctx, s.stopCheckpoints = context.WithCancel(context.WithoutCancel(ctx))
	s.checkpointed = make(chan struct{})
	go s.checkpointer(cctx, conn, s.checkpointed)
	err = s.wc.QueryRowContext(ctx, "SELECT (SELECT coalesce(max(last_position), 0) FROM chunks), (SELECT coalesce(max(stream_id), 0) + 1 FROM streams)").
		Scan(&s.head, &s.nextStreamID)
	if err != nil {
		return err
	}
	if err := s.recover(ctx, firsts); err != nil {
		return err
	}
	if err := s.loadFirst(ctx); err != nil {
		return err
	}
	return s.loadIDs(ctx)
}

// Close closes the databases and releases the directory. Waiting
// WaitCheckpoint calls return sluice.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	err := s.flushCheckpoints(context.Background())
	s.closed.Store(true)
	s.checkpoints.NotifyAll()
	return errors.Join(err, s.closeAll())
}

func (s *Store) closeAll() error {
	s.stop() // wakes WaitHead
	var errs []error
	if s.stopCheckpoints != nil {
		s.stopCheckpoints()
		<-s.checkpointed
	}
	errs = append(errs, s.ids.close())
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, s.reads.close())
	if s.wc != nil {
		errs = append(errs, s.wc.Close())
	}
	for _, db := range []*sql.DB{s.ck, s.r, s.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if s.segs != nil {
		errs = append(errs, s.segs.close())
	}
	errs = append(errs, s.lock.Close())
	return errors.Join(errs...)
}

func (s *Store) checkOpen() error {
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	return nil
}

// Head returns the highest committed position. It does not wait for the
// commit in flight: it is the head that commits have published.
func (s *Store) Head(ctx context.Context) (sluice.Position, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	return s.notify.Head(), nil
}

// WaitHead blocks until a commit moves the head above after; Close ends it
// with sluice.ErrClosed.
func (s *Store) WaitHead(ctx context.Context, after sluice.Position) (sluice.Position, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	head, err := s.notify.WaitOr(ctx, s.done, after)
	if err != nil {
		if err := s.checkOpen(); err != nil {
			return head, err
		}
	}
	return head, err
}
