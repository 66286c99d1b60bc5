package sqlite

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/bloom"
)

// The on-disk id index lives in ids.db, a database of its own beside
// sluice.db, written only by the flusher goroutine, so that its writes never
// hold up the log's writer (D91). Each frozen batch becomes a run: a table
// run_<n> of (hash, position) written in one transaction with the mark
// (indexed_through) it reaches, so ids.db always holds exactly the ids of the
// events up to its mark. Writing a sorted batch into a table of its own
// appends pages instead of rewriting the pages of one large index (a batch
// of 100,000 random hashes dirties most pages of an index of millions).
// Runs are merged in the background, mergeFanout of a size into one (tiered,
// as in an LSM tree), so that there are at most mergeFanout-1 runs of each
// size and each id is rewritten about log4 of (ids / batch) times. A lookup
// asks every live run; the filter keeps new ids from asking at all.
const idsSchema = `
CREATE TABLE IF NOT EXISTS runs (
    run     INTEGER PRIMARY KEY, -- the table run_<run>
    ord     INTEGER NOT NULL,    -- age: a merged run takes its oldest source's
    entries INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    one             INTEGER PRIMARY KEY CHECK (one = 1),
    indexed_through INTEGER NOT NULL
);
-- The merge in progress, so that a restart resumes it instead of starting
-- over: its target table holds the steps before step.
CREATE TABLE IF NOT EXISTS merge (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    target  INTEGER NOT NULL,
    sources TEXT    NOT NULL, -- run ids, comma-separated
    steps   INTEGER NOT NULL,
    step    INTEGER NOT NULL,
    entries INTEGER NOT NULL
);`

// mergeStep is how many rows one transaction of a merge writes, about: the
// flusher writes a pending batch between two steps.
const mergeStep = 100_000

// minFilter is the smallest filter's capacity: 1.25 MB.
const minFilter = 1 << 20

// idsTesting, when set before Open, changes the store it opens: tests hold
// a flush inside its transaction with flushHook, and make the filter grow
// sooner with minFilter.
var idsTesting atomic.Pointer[idsTest]

type idsTest struct {
	flushHook func(through sluice.Position)
	minFilter int
	mergeStep int64
	mergeHook func(step int) // inside each merge step's transaction
}

// idsDB is ids.db: its connections, its live runs and the flusher.
type idsDB struct {
	ids *idIndex
	w   *sql.DB
	wc  *sql.Conn // the flusher's
	r   *sql.DB   // lookups (rc) and the filter's rebuilds
	rc  *sql.Conn
	// through is the mark; at open, where the log is scanned from, then
	// the flusher's.
	through sluice.Position
	// runs are the live runs, oldest first; written by the flusher under
	// ids.mu, read by lookups under its read lock. version counts changes.
	runs    []idRun
	version int
	// The commit path's statement over the runs of lookupVersion.
	lookupStmt    *sql.Stmt
	lookupVersion int

	hook       func(through sluice.Position)
	mergeHook  func(step int)
	minFilter  int
	stepRows   int64
	filterPath string
	kickc      chan struct{}
	stop       chan struct{}
	done       chan struct{} // nil until start
	lastErr    atomic.Pointer[error]

	// The flusher's own state.
	nextRun int64
	entries int64    // in the live runs
	drops   []int64  // runs to drop: merged, or left over by a crash
	merge   *idMerge // in progress
	resumed int      // the step a merge was resumed from at open
}

// idRun is a live run.
type idRun struct {
	id, ord, entries int64
}

// idMerge is a merge in progress: sources into target, in steps by range of
// hash.
type idMerge struct {
	sources      []idRun
	target       int64
	step, steps  int
	entries      int64  // written so far
	insert, keep string // the step's SQL; keep lists the sources
}

// open opens ids.db in dir, moving into it the id index of a data
// directory of the older format (sluice.db's id_index), and fills the
// filter from it.
func (ids *idIndex) open(ctx context.Context, dir string) error {
	d := &idsDB{ids: ids, kickc: make(chan struct{}, 1), stop: make(chan struct{}), minFilter: minFilter, stepRows: mergeStep}
	if t := idsTesting.Load(); t != nil {
		d.hook, d.mergeHook, d.minFilter = t.flushHook, t.mergeHook, t.minFilter
		d.stepRows = cmp.Or(t.mergeStep, mergeStep)
	}
	ids.db, ids.wake = d, sync.NewCond(&ids.mu)
	path := filepath.Join(dir, "ids.db")
	var err error
	if d.w, err = sql.Open(driverName, dsn(path, false)); err != nil {
		return err
	}
	d.w.SetMaxOpenConns(1)
	if d.wc, err = d.w.Conn(ctx); err != nil {
		return err
	}
	// The mark moves in the same transactions as the runs, so a crash that
	// loses the last ones leaves ids.db consistent, only further behind the
	// log: no fsync per batch is needed.
	//
	// Its page cache is smaller than the log's writer's: the flusher writes
	// runs in key order and merges them in one pass, so pages are seldom
	// read twice, and 16 MiB of it was a tenth of the server's peak RSS.
	if _, err := d.wc.ExecContext(ctx, "PRAGMA synchronous=NORMAL; PRAGMA cache_size="+idsCacheKiB+"; "+idsSchema); err != nil {
		return fmt.Errorf("ids.db: %w", err)
	}
	if err := d.convert(ctx, filepath.Join(dir, "sluice.db")); err != nil {
		return fmt.Errorf("ids.db: move id_index from sluice.db: %w", err)
	}
	if err := d.load(ctx); err != nil {
		return fmt.Errorf("ids.db: %w", err)
	}
	if d.r, err = sql.Open(driverName, dsn(path, true)); err != nil {
		return err
	}
	d.r.SetMaxOpenConns(2)
	if d.rc, err = d.r.Conn(ctx); err != nil {
		return err
	}
	d.filterPath = filepath.Join(dir, "ids.filter")
	f := d.readFilter()
	if f == nil {
		f = bloom.New(max(d.minFilter, int(d.entries)*3/2))
		if err := d.fill(ctx, d.rc, f); err != nil {
			return fmt.Errorf("ids.db: fill the filter: %w", err)
		}
	}
	ids.filter.Store(f)
	return nil
}

// The filter is saved by Close in ids.filter, after the key of the runs it
// holds: the highest live run, the number of runs and of entries. Any run
// written or merged since changes the key, so a file that does not match
// (older, torn, or saved before a crash) is ignored and the filter rebuilt
// from ids.db. Reading 90 MB beats reading 50 million rows from SQLite.
func (d *idsDB) filterKey() []byte {
	var top int64
	for _, r := range d.runs {
		top = max(top, r.id)
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(top))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(d.runs)))
	return binary.LittleEndian.AppendUint64(b, uint64(d.entries))
}

// readFilter returns the saved filter if it holds the live runs, else nil.
func (d *idsDB) readFilter() *bloom.Filter {
	file, err := os.Open(d.filterPath)
	if err != nil {
		return nil
	}
	defer file.Close()
	r := bufio.NewReader(file)
	key := make([]byte, 24)
	if _, err := io.ReadFull(r, key); err != nil || !bytes.Equal(key, d.filterKey()) {
		return nil
	}
	f, err := bloom.Read(r)
	if err != nil {
		return nil
	}
	return f
}

// writeFilter saves the filter, once the flusher has stopped.
func (d *idsDB) writeFilter() error {
	tmp := d.filterPath + ".tmp"
	file, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(file, 1<<16)
	w.Write(d.filterKey())
	_, err = d.ids.filter.Load().WriteTo(w)
	if err = errors.Join(err, w.Flush(), file.Close()); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, d.filterPath)
}

// convert moves the id index of the older format into ids.db, once: until
// ids.db has its state row, it is what sluice.db's id_index holds (entries
// past its indexed_through are left out: the log has them). Migration 007
// drops the old table afterwards.
func (d *idsDB) convert(ctx context.Context, logPath string) error {
	var done int
	if err := d.wc.QueryRowContext(ctx, "SELECT count(*) FROM state").Scan(&done); err != nil || done > 0 {
		return err
	}
	if _, err := d.wc.ExecContext(ctx, "ATTACH DATABASE ? AS log", logPath); err != nil {
		return err
	}
	defer d.wc.ExecContext(context.Background(), "DETACH DATABASE log")
	return d.inTx(ctx, func(tx *sql.Tx) error {
		var old int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM log.sqlite_master WHERE name = 'id_index'").Scan(&old); err != nil {
			return err
		}
		var mark int64
		if old > 0 {
			if err := tx.QueryRowContext(ctx, "SELECT indexed_through FROM log.id_index_state").Scan(&mark); err != nil {
				return err
			}
			err := createRun(ctx, tx, 1, 1, "SELECT hash, position FROM log.id_index WHERE position <= ? ORDER BY hash, position", mark)
			if err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO state (one, indexed_through) VALUES (1, ?)", mark)
		return err
	})
}

// createRun creates table run_<id> and fills it with the rows of query,
// recording it as a live run of age ord.
func createRun(ctx context.Context, tx *sql.Tx, id, ord int64, query string, args ...any) error {
	if _, err := tx.ExecContext(ctx, createRunSQL(id)); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO "+runTable(id)+" (hash, position) "+query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO runs (run, ord, entries) VALUES (?, ?, ?)", id, ord, n)
	return err
}

func runTable(id int64) string { return "run_" + strconv.FormatInt(id, 10) }

func createRunSQL(id int64) string {
	return "CREATE TABLE " + runTable(id) + " (hash INTEGER NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (hash, position)) WITHOUT ROWID"
}

// inTx runs fn in a transaction on the flusher's connection. ids.db has no
// other writer, so a deferred BEGIN never waits for a lock.
func (d *idsDB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.wc.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// close stops the flusher, after it has written the pending batches, and
// closes ids.db.
func (ids *idIndex) close() error {
	d := ids.db
	if d == nil {
		return nil
	}
	var errs []error
	if d.done != nil {
		close(d.stop)
		<-d.done
		if err := d.writeFilter(); err != nil {
			errs = append(errs, fmt.Errorf("save the id filter: %w", err))
		}
	}
	if d.lookupStmt != nil {
		errs = append(errs, d.lookupStmt.Close())
	}
	for _, c := range []*sql.Conn{d.rc, d.wc} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	for _, db := range []*sql.DB{d.r, d.w} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	return errors.Join(errs...)
}

// load reads the mark and the live runs, and finds the run tables that are
// not live (a merge or a drop that a crash interrupted) to drop them.
func (d *idsDB) load(ctx context.Context) error {
	if err := d.wc.QueryRowContext(ctx, "SELECT indexed_through FROM state").Scan(&d.through); err != nil {
		return err
	}
	err := eachRow(ctx, d.wc, "SELECT run, ord, entries FROM runs ORDER BY ord", nil, func(rows *sql.Rows) error {
		var r idRun
		err := rows.Scan(&r.id, &r.ord, &r.entries)
		d.runs = append(d.runs, r)
		d.entries += r.entries
		d.nextRun = max(d.nextRun, r.id+1)
		return err
	})
	if err != nil {
		return err
	}
	err = eachRow(ctx, d.wc, "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'run_*'", nil, func(rows *sql.Rows) error {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(name, "run_"), 10, 64)
		if err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
		if !slices.ContainsFunc(d.runs, func(r idRun) bool { return r.id == id }) {
			d.drops = append(d.drops, id)
		}
		d.nextRun = max(d.nextRun, id+1)
		return nil
	})
	if err != nil {
		return err
	}
	return d.resumeMerge(ctx)
}

// eachRow runs query on q and calls scan for each row.
func eachRow(ctx context.Context, q queryer, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	return scanRows(rows, err, scan)
}

// fill adds every hash of the live runs to f, reading them in one read
// transaction on conn, so that runs merged meanwhile are read as they were.
func (d *idsDB) fill(ctx context.Context, conn *sql.Conn, f *bloom.Filter) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return err
	}
	defer func() { _, _ = conn.ExecContext(context.Background(), "COMMIT") }()
	var live []int64
	err = eachRow(ctx, conn, "SELECT run FROM runs", nil, func(rows *sql.Rows) error {
		var id int64
		err := rows.Scan(&id)
		live = append(live, id)
		return err
	})
	for _, id := range live {
		if err != nil {
			return err
		}
		err = eachRow(ctx, conn, "SELECT hash FROM "+runTable(id), nil, func(rows *sql.Rows) error {
			var h int64
			err := rows.Scan(&h)
			f.Add(uint64(h))
			return err
		})
	}
	return err
}

// lookup returns the positions that the live runs hold for hashes. The
// caller holds ids.mu for reading, so the runs stay as they are.
func (d *idsDB) lookup(ctx context.Context, hashes []int64) ([]sluice.Position, error) {
	if len(d.runs) == 0 {
		return nil, nil
	}
	if d.lookupStmt == nil || d.lookupVersion != d.version {
		if d.lookupStmt != nil {
			d.lookupStmt.Close()
			d.lookupStmt = nil
		}
		parts := make([]string, len(d.runs))
		for i, r := range d.runs {
			parts[i] = "SELECT position FROM " + runTable(r.id) + " WHERE hash IN (SELECT value FROM json_each(?1))"
		}
		st, err := d.rc.PrepareContext(ctx, strings.Join(parts, " UNION ALL "))
		if err != nil {
			return nil, err
		}
		d.lookupStmt, d.lookupVersion = st, d.version
	}
	rows, err := d.lookupStmt.QueryContext(ctx, jsonInts(hashes))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []sluice.Position
	for rows.Next() {
		var p sluice.Position
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		found = append(found, p)
	}
	return found, rows.Err()
}

// start starts the flusher.
func (d *idsDB) start() {
	d.done = make(chan struct{})
	go d.flusher()
}

// kick wakes the flusher.
func (d *idsDB) kick() {
	select {
	case d.kickc <- struct{}{}:
	default:
	}
}

// failed is the flusher's last error, while it has not succeeded since.
func (d *idsDB) failed() error {
	if p := d.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// setErr records the outcome of the flusher's last write and wakes the
// commits waiting for room, so that they see a failure.
func (d *idsDB) setErr(err error) {
	if err == nil {
		d.lastErr.Store(nil)
		return
	}
	d.lastErr.Store(&err)
	d.ids.mu.Lock()
	d.ids.wake.Broadcast()
	d.ids.mu.Unlock()
}

// flusher writes the pending batches, first and in order, and between them
// merges runs, drops merged ones and grows the filter. Stopped, it writes
// what is pending and returns; a merge in progress is resumed at the next
// open from its last step.
func (d *idsDB) flusher() {
	defer close(d.done)
	ctx := context.Background()
	var rb *rebuild // of the filter, in progress
	var retry time.Duration
	defer func() {
		if rb != nil {
			rb.cancel()
			<-rb.done
		}
	}()
	for {
		var err error
		var idle bool
		if b := d.ids.first(); b != nil {
			if err = d.write(ctx, b, rb); err == nil {
				d.ids.pop()
			}
		} else {
			select {
			case <-d.stop:
				return
			default:
			}
			switch {
			case len(d.drops) > 0:
				if _, err = d.wc.ExecContext(ctx, "DROP TABLE IF EXISTS "+runTable(d.drops[0])); err == nil {
					d.drops = d.drops[1:]
				}
			case d.merge != nil || d.pickMerge():
				err = d.mergeStep(ctx)
			case rb == nil && int(d.entries) > d.ids.filter.Load().Capacity():
				rb = d.rebuild()
			default:
				idle = true
			}
		}
		d.setErr(err)
		if err != nil {
			if d.merge != nil { // start it over: its table is dropped first
				d.drops, d.merge = append(d.drops, d.merge.target), nil
			}
			retry = min(max(2*retry, 10*time.Millisecond), time.Second)
		} else {
			retry = 0
		}
		if err == nil && !idle {
			continue
		}
		var timer <-chan time.Time
		if retry > 0 {
			timer = time.After(retry)
		}
		select {
		case <-d.kickc:
		case <-timer:
		case err := <-rb.wait():
			if err == nil {
				d.ids.filter.Store(rb.next)
			}
			rb.cancel()
			rb = nil
		case <-d.stop:
			if d.ids.first() == nil || retry > 0 { // failing: the log has the ids
				return
			}
		}
	}
}

// rebuild is a new filter, twice the size of what ids.db holds, being
// filled from ids.db on a goroutine of its own. The batches written
// meanwhile go into it as well.
type rebuild struct {
	next   *bloom.Filter
	done   chan error
	cancel context.CancelFunc
}

// rebuild starts a rebuild of the filter. The batches that the flusher has
// written are in the read transaction that fill opens after this.
func (d *idsDB) rebuild() *rebuild {
	ctx, cancel := context.WithCancel(context.Background())
	rb := &rebuild{next: bloom.New(int(2 * d.entries)), done: make(chan error, 1), cancel: cancel}
	go func() {
		conn, err := d.r.Conn(ctx)
		if err == nil {
			err = errors.Join(d.fill(ctx, conn, rb.next), conn.Close())
		}
		rb.done <- err
	}()
	return rb
}

// wait is the channel that delivers the rebuild's outcome; nil (never
// ready) when there is none.
func (rb *rebuild) wait() <-chan error {
	if rb == nil {
		return nil
	}
	return rb.done
}

// first is the oldest pending batch, or nil.
func (ids *idIndex) first() *idBatch {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	if len(ids.pending) == 0 {
		return nil
	}
	return ids.pending[0]
}

// pop removes the oldest pending batch, which is in ids.db now, and wakes
// the commits waiting for room.
func (ids *idIndex) pop() {
	ids.mu.Lock()
	ids.pending = ids.pending[1:]
	ids.wake.Broadcast()
	ids.mu.Unlock()
}

// write writes b as a new run and moves the mark to its end, in one
// transaction. Its hashes go into the filter (and the one being rebuilt)
// first: a lookup that no longer finds b in pending finds it on disk.
func (d *idsDB) write(ctx context.Context, b *idBatch, rb *rebuild) error {
	f := d.ids.filter.Load()
	rows := make([]byte, 0, len(b.entries)*32)
	rows = append(rows, '[')
	for i, e := range b.entries {
		f.Add(uint64(e.hash))
		if rb != nil {
			rb.next.Add(uint64(e.hash))
		}
		if i > 0 {
			rows = append(rows, ',')
		}
		rows = append(rows, '[')
		rows = strconv.AppendInt(rows, e.hash, 10)
		rows = append(rows, ',')
		rows = strconv.AppendUint(rows, uint64(e.position), 10)
		rows = append(rows, ']')
	}
	rows = append(rows, ']')
	run := idRun{id: d.nextRun, ord: d.nextRun, entries: int64(len(b.entries))}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if err := createRun(ctx, tx, run.id, run.ord, "SELECT value->>0, value->>1 FROM json_each(?)", string(rows)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE state SET indexed_through = ?", int64(b.through)); err != nil {
			return err
		}
		if d.hook != nil {
			d.hook(b.through)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write run %d: %w", run.id, err)
	}
	d.nextRun++
	d.through = b.through
	d.entries += run.entries
	d.ids.mu.Lock()
	d.runs = append(d.runs, run)
	d.version++
	d.ids.mu.Unlock()
	return nil
}

// mergeFanout is how many runs of a size are merged into one. At 50 million
// ids, appends cost 1.15 × the CPU per event of an empty store with 4, 1.27 ×
// with 2 (D91).
const mergeFanout = 4

// pickMerge starts a merge of the newest runs, from the oldest one that the
// runs after it outweigh mergeFanout-1 times over, or reports that there is
// none.
func (d *idsDB) pickMerge() bool {
	from := -1
	var newer int64
	for i := len(d.runs) - 1; i >= 0; i-- {
		if i < len(d.runs)-1 && d.runs[i].entries*(mergeFanout-1) <= newer {
			from = i
		}
		newer += d.runs[i].entries
	}
	if from < 0 {
		return false
	}
	var total int64
	for _, r := range d.runs[from:] {
		total += r.entries
	}
	d.merge = newMerge(slices.Clone(d.runs[from:]), d.nextRun, int(max(1, total/d.stepRows)))
	d.nextRun++
	return true
}

// newMerge is the merge of sources into target in steps.
func newMerge(sources []idRun, target int64, steps int) *idMerge {
	m := &idMerge{sources: sources, target: target, steps: steps}
	parts := make([]string, len(m.sources))
	keep := make([]string, len(m.sources))
	for i, r := range m.sources {
		parts[i] = "SELECT hash, position FROM " + runTable(r.id) + " WHERE hash BETWEEN ?1 AND ?2"
		keep[i] = strconv.FormatInt(r.id, 10)
	}
	m.insert = "INSERT OR IGNORE INTO " + runTable(m.target) + " (hash, position) SELECT hash, position FROM (" + strings.Join(parts, " UNION ALL ") + ") ORDER BY hash, position"
	m.keep = strings.Join(keep, ",")
	return m
}

// resumeMerge takes up the merge that ids.db records, if its sources are
// all live still and its target exists; else the target is dropped.
func (d *idsDB) resumeMerge(ctx context.Context) error {
	var target int64
	var sources string
	var steps, step int
	var entries int64
	err := d.wc.QueryRowContext(ctx, "SELECT target, sources, steps, step, entries FROM merge").Scan(&target, &sources, &steps, &step, &entries)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var runs []idRun
	for id := range strings.SplitSeq(sources, ",") {
		i := slices.IndexFunc(d.runs, func(r idRun) bool { return strconv.FormatInt(r.id, 10) == id })
		if i < 0 || (len(runs) > 0 && (i == 0 || d.runs[i-1].id != runs[len(runs)-1].id)) {
			return nil // not the live runs it was started on: its target is dropped
		}
		runs = append(runs, d.runs[i])
	}
	if i := slices.Index(d.drops, target); i >= 0 && step > 0 {
		d.drops = slices.Delete(d.drops, i, i+1)
		d.merge = newMerge(runs, target, steps)
		d.merge.step, d.merge.entries = step, entries
		d.resumed = step
	}
	return nil
}

// mergeStep writes the next range of hashes of the merge; the last one
// makes the target live in place of the sources, which are then dropped.
func (d *idsDB) mergeStep(ctx context.Context) error {
	m := d.merge
	// Step i takes the hashes whose unsigned value is in the i-th of steps
	// equal parts of the 64-bit range.
	width := math.MaxUint64 / uint64(m.steps)
	lo, hi := uint64(m.step)*width, uint64(m.step+1)*width-1
	if m.step == m.steps-1 {
		hi = math.MaxUint64
	}
	last := m.step == m.steps-1
	var written int64
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		if m.step == 0 {
			if _, err := tx.ExecContext(ctx, createRunSQL(m.target)); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, m.insert, int64(lo^1<<63), int64(hi^1<<63))
		if err != nil {
			return err
		}
		if written, err = res.RowsAffected(); err != nil {
			return err
		}
		if d.mergeHook != nil {
			d.mergeHook(m.step)
		}
		if !last {
			_, err = tx.ExecContext(ctx, "INSERT OR REPLACE INTO merge (one, target, sources, steps, step, entries) VALUES (1, ?, ?, ?, ?, ?)",
				m.target, m.keep, m.steps, m.step+1, m.entries+written)
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM merge"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM runs WHERE run IN ("+m.keep+")"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO runs (run, ord, entries) VALUES (?, ?, ?)", m.target, m.sources[0].ord, m.entries+written)
		return err
	})
	if err != nil {
		return fmt.Errorf("merge into run %d: %w", m.target, err)
	}
	m.entries += written
	if m.step++; !last {
		return nil
	}
	// Runs written during the merge follow its sources; the target takes
	// the sources' place.
	for _, r := range m.sources {
		d.entries -= r.entries
		d.drops = append(d.drops, r.id)
	}
	d.entries += m.entries
	i := slices.IndexFunc(d.runs, func(r idRun) bool { return r.id == m.sources[0].id })
	runs := append(slices.Clone(d.runs[:i]), idRun{id: m.target, ord: m.sources[0].ord, entries: m.entries})
	runs = append(runs, d.runs[i+len(m.sources):]...)
	d.ids.mu.Lock()
	d.runs = runs
	d.version++
	d.ids.mu.Unlock()
	d.merge = nil
	return nil
}
