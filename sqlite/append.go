package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
)

// insertChunk is the most rows one multi-row INSERT carries: one statement
// per group of rows keeps the driver's per-call cost out of the commit.
const insertChunk = 64

// commit is one Append while it is planned and written: the plan every
// backend shares, the integer ids of its streams, and where its frames went.
type commit struct {
	*sluice.CommitPlan
	streamIDs map[string]int64 // by name, of the streams already stored
	nextID    int64            // the next stream id to give out
	// wrote says that the frames were written to the last segment, at
	// offset at.
	wrote bool
	at    int64
}

// Append stores the requests; see sluice.Log. A commit, under s.mu:
//
//  1. plan: read the streams and ids the requests touch from the index;
//  2. write the events' frames at the end of the last segment with one
//     write and one fdatasync: the commit is durable from here on;
//  3. index them in SQLite, in a transaction at synchronous=NORMAL (see
//     logTx), in which the consumers' moved checkpoints ride along;
//  4. publish the new head.
//
// When 2 or 3 fails, the segment is cut back to where it was, so that
// nothing of a failed Append survives. When even that fails (a double
// fault: the disk refuses the truncate too), the frames are durable but
// not indexed, and the store is broken: every later Append fails with
// sluice.ErrUnavailable until the store is reopened, and recovery at Open
// then indexes the frames, so that the Append which failed is stored after
// all (as a timed-out write may be).
func (s *Store) Append(ctx context.Context, reqs []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	if err := s.limits.Prepare(reqs); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, sluice.ErrClosed
	}
	if s.broken != nil {
		return nil, fmt.Errorf("append: %w: %w", sluice.ErrUnavailable, s.broken)
	}
	c := &commit{
		CommitPlan: sluice.NewCommitPlan(s.head, time.Now().UTC()),
		streamIDs:  map[string]int64{},
		nextID:     s.nextStreamID,
	}
	// The driver runs a statement with a cancellable context on a goroutine
	// of its own and waits for it; under load, each handoff waits for the
	// scheduler behind every runnable goroutine. SQLite statements do not
	// block (busy_timeout bounds lock waits), so the commit runs inline.
	ctx = context.WithoutCancel(ctx)
	moved := s.takeDirty() // consumers' checkpoints ride along
	err := s.logTx(ctx, func(tx *sql.Conn) error {
		if err := writeCheckpoints(ctx, tx, moved); err != nil {
			return err
		}
		if err := s.load(ctx, tx, c, reqs); err != nil {
			return err
		}
		c.Add(reqs)
		return s.write(ctx, tx, c)
	})
	if err != nil {
		s.putBack(moved)
		if c.wrote {
			err = errors.Join(err, s.segs.cutBack(c.at))
		}
		if errors.Is(err, errCutBack) {
			s.broken = err
		}
		return nil, unavailable("append", err)
	}
	s.committed(c)
	s.head, s.nextStreamID = c.Head, c.nextID
	s.notify.Publish(c.Head)
	return c.Results, nil
}

// logTx runs fn in a transaction as inTx does, at synchronous=NORMAL: the
// commit does not fsync SQLite's WAL, because the segment's fdatasync has
// made the events durable already and recovery rebuilds an index
// transaction that an operating-system crash loses (a killed process loses
// nothing: the WAL is written before COMMIT returns). Every other write of
// the store runs at the connection's synchronous=FULL (dsn), which logTx
// restores before it returns; and since the WAL is one file written in
// order, a FULL commit makes the NORMAL ones before it durable too.
func (s *Store) logTx(ctx context.Context, fn func(tx *sql.Conn) error) error {
	normal, err := s.stmt(ctx, "PRAGMA synchronous=NORMAL")
	if err != nil {
		return err
	}
	full, err := s.stmt(ctx, "PRAGMA synchronous=FULL")
	if err != nil {
		return err
	}
	if _, err := normal.ExecContext(ctx); err != nil {
		return err
	}
	err = s.inTx(ctx, fn)
	if _, ferr := full.ExecContext(ctx); ferr != nil {
		// The transaction's outcome stands; but the connection must not
		// serve other writes without their fsync.
		s.broken = fmt.Errorf("restore synchronous=FULL: %w", ferr)
	}
	return err
}

// inTx runs fn in a write transaction on the writing connection and commits
// it, or rolls it back when fn or the commit fails. Transactions are plain
// SQL on one held connection, so that statements prepared on it serve every
// transaction.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Conn) error) error {
	if _, err := s.wc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err := fn(s.wc)
	if err == nil {
		_, err = s.wc.ExecContext(ctx, "COMMIT")
	}
	if err != nil {
		// Roll back with a fresh context: ctx may be why fn failed. After a
		// failed COMMIT SQLite may have rolled back already.
		if _, rerr := s.wc.ExecContext(context.Background(), "ROLLBACK"); rerr != nil && !strings.Contains(rerr.Error(), "no transaction is active") {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// load reads what the commit needs: the streams it touches and the events
// already stored under its ids.
func (s *Store) load(ctx context.Context, tx *sql.Conn, c *commit, reqs []sluice.AppendRequest) error {
	var names []string
	var hashes []int64
	seen := map[string]bool{}
	for _, r := range reqs {
		for i := range r.Events {
			e := &r.Events[i]
			if !seen[e.Stream] {
				seen[e.Stream] = true
				names = append(names, e.Stream)
			}
			hashes = append(hashes, idHash(e.ID))
		}
	}
	if err := s.loadStreams(ctx, tx, c, names); err != nil {
		return err
	}
	return s.lookupIDs(ctx, tx, c, hashes)
}

// loadStreams reads the ids and versions of the named streams that exist.
func (s *Store) loadStreams(ctx context.Context, tx *sql.Conn, c *commit, names []string) error {
	namesJSON, err := json.Marshal(names)
	if err != nil {
		return err
	}
	return s.queryEach(ctx, tx, "SELECT name, stream_id, version FROM streams WHERE name IN (SELECT value FROM json_each(?))", string(namesJSON), func(rows *sql.Rows) error {
		var name string
		var id int64
		var version uint64
		if err := rows.Scan(&name, &id, &version); err != nil {
			return err
		}
		c.streamIDs[name], c.Versions[name] = id, version
		return nil
	})
}

// queryEach runs the prepared query and calls scan for each row.
func (s *Store) queryEach(ctx context.Context, tx *sql.Conn, query string, arg any, scan func(*sql.Rows) error) error {
	stmt, err := s.stmt(ctx, query)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, arg)
	return scanRows(rows, err, scan)
}

// scanRows calls scan for each of rows, the result of a query that failed
// with err when it is not nil, and closes them.
func scanRows(rows *sql.Rows, err error, scan func(*sql.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// chunkRef says where a chunk's frame is: the chunks row of the index.
type chunkRef struct {
	first, last sluice.Position
	segment     sluice.Position // the segment file, by its first position
	offset      int64
	length      int64 // of the frame, header included
}

// keepBuf is the largest encoding buffer a commit leaves for the next: a
// commit of the writer's 10,000 events of 400 bytes takes about 4.3 MB.
const keepBuf = 8 << 20

// write appends the planned events to the segment files, in chunks of at
// most chunkMaxEvents or about chunkMaxBytes, one frame each, with one
// write and one fdatasync, then indexes them in tx. When it returns, c.at
// says where the frames are (c.wrote), so that a commit that fails after
// it can cut them off again.
func (s *Store) write(ctx context.Context, tx *sql.Conn, c *commit) error {
	if len(c.Events) == 0 {
		return nil
	}
	var refs []chunkRef
	// The commit's frames are encoded into one buffer, sized once: grown
	// event by event it was reallocated and copied a dozen times for a
	// commit of 10,000 events (7 % of the server's CPU under batches).
	size := 0
	for i := range c.Events {
		size += c.Events[i].Size() + eventOverhead
	}
	buf := slices.Grow(s.chunkBuf[:0], size+(len(c.Events)/chunkMaxEvents+1)*(frameHeader+chunkHeaderMax))
	defer func() {
		if cap(buf) <= keepBuf { // keep a buffer of the usual size, not a giant one
			s.chunkBuf = buf[:0]
		}
	}()
	for rest := c.Events; len(rest) > 0; {
		n, size := 0, 0
		for n < len(rest) && n < chunkMaxEvents && (n == 0 || size < chunkMaxBytes) {
			size += rest[n].Size()
			n++
		}
		evs := rest[:n]
		rest = rest[n:]
		at := len(buf)
		buf = encodeChunk(beginFrame(buf), evs, c.RecordedAt)
		endFrame(buf, at, evs[0].Position)
		refs = append(refs, chunkRef{first: evs[0].Position, last: evs[n-1].Position, offset: int64(at), length: int64(len(buf) - at)})
	}
	segment, at, err := s.segs.write(buf, refs[0].first)
	if err != nil {
		return fmt.Errorf("write segment: %w", err)
	}
	c.wrote, c.at = true, at
	if err := s.segs.sync(); err != nil {
		return fmt.Errorf("write segment: %w", err)
	}
	for i := range refs {
		refs[i].segment = segment
		refs[i].offset += at
	}
	return s.index(ctx, tx, c, refs)
}

// index writes the index rows of the commit's chunks, at refs: the chunks,
// their stream runs, and the streams' new versions, giving new streams
// their ids. c.Events are the events of refs, in order.
func (s *Store) index(ctx context.Context, tx *sql.Conn, c *commit, refs []chunkRef) error {
	changed := make([]string, 0, len(c.Streams))
	for name := range c.Streams {
		if _, ok := c.streamIDs[name]; !ok {
			c.streamIDs[name] = c.nextID
			c.nextID++
		}
		changed = append(changed, name)
	}
	if err := s.insertChunks(ctx, tx, refs); err != nil {
		return err
	}
	type run struct {
		stream      int64
		first, last uint64
		chunk       sluice.Position
	}
	var runs []run
	base := c.Events[0].Position
	for _, ref := range refs {
		at := map[string]int{} // stream → index in runs, for this chunk
		for j := range c.Events[ref.first-base : ref.last-base+1] {
			e := &c.Events[ref.first-base+sluice.Position(j)]
			if i, ok := at[e.Stream]; ok {
				runs[i].last = e.Version
				continue
			}
			at[e.Stream] = len(runs)
			runs = append(runs, run{stream: c.streamIDs[e.Stream], first: e.Version, last: e.Version, chunk: ref.last})
		}
	}
	err := s.insertRows(ctx, tx, "INSERT INTO stream_runs (stream_id, first_version, last_version, chunk) VALUES ", "", 4, len(runs), func(i int, args []any) []any {
		r := runs[i]
		return append(args, r.stream, int64(r.first), int64(r.last), int64(r.chunk))
	})
	if err != nil {
		return fmt.Errorf("insert stream runs: %w", err)
	}
	err = s.insertRows(ctx, tx, "INSERT INTO streams (stream_id, name, version, last_position) VALUES ",
		" ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, last_position = excluded.last_position", 4, len(changed), func(i int, args []any) []any {
			st := c.Streams[changed[i]]
			return append(args, c.streamIDs[st.Stream], st.Stream, int64(st.Version), int64(st.LastPosition))
		})
	if err != nil {
		return fmt.Errorf("update streams: %w", err)
	}
	return nil
}

// insertChunks writes the chunks rows of refs.
func (s *Store) insertChunks(ctx context.Context, tx *sql.Conn, refs []chunkRef) error {
	err := s.insertRows(ctx, tx, "INSERT INTO chunks (last_position, first_position, segment, file_offset, frame_length) VALUES ", "", 5, len(refs), func(i int, args []any) []any {
		r := refs[i]
		return append(args, int64(r.last), int64(r.first), int64(r.segment), r.offset, r.length)
	})
	if err != nil {
		return fmt.Errorf("insert chunks: %w", err)
	}
	return nil
}

// insertRows inserts n rows of cols columns with statements of up to
// insertChunk rows each (insert, the rows' placeholders, then suffix); row
// appends row i's values to args.
func (s *Store) insertRows(ctx context.Context, tx *sql.Conn, insert, suffix string, cols, n int, row func(i int, args []any) []any) error {
	args := make([]any, 0, min(n, insertChunk)*cols)
	placeholders := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	for done := 0; done < n; {
		k := min(n-done, insertChunk)
		stmt, err := s.stmt(ctx, insert+strings.TrimSuffix(strings.Repeat(placeholders+",", k), ",")+suffix)
		if err != nil {
			return err
		}
		args = args[:0]
		for i := done; i < done+k; i++ {
			args = row(i, args)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// stmt returns query prepared on the writing connection, preparing it the
// first time. Callers hold s.mu.
func (s *Store) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts[query]; ok {
		return st, nil
	}
	st, err := s.wc.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.stmts[query] = st
	return st, nil
}

// unavailable wraps a failure to write: the store could not do it now (disk
// full, I/O error), and the caller may retry. A full disk is
// sluice.ErrStorageFull (which is also sluice.ErrUnavailable).
func unavailable(op string, err error) error {
	if storageFull(err) {
		return fmt.Errorf("%s: %w: %w", op, sluice.ErrStorageFull, err)
	}
	return fmt.Errorf("%s: %w: %w", op, sluice.ErrUnavailable, err)
}

// storageFull reports whether err says the disk is full: SQLITE_FULL from
// the driver, or ENOSPC from the file system.
func storageFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || driverFull(err)
}
