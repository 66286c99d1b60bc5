package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
)

// insertChunk is the most rows one multi-row INSERT carries: one statement
// per group of rows keeps the driver's per-call cost out of the commit.
const insertChunk = 64

// commit is one Append while it is planned and written: the plan every
// backend shares, and the integer ids of its streams.
type commit struct {
	*sluice.CommitPlan
	streamIDs map[string]int64 // by name, of the streams already stored
	nextID    int64            // the next stream id to give out
}

// Append stores the requests in one transaction; see sluice.Log.
func (s *Store) Append(ctx context.Context, reqs []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	if err := s.limits.Prepare(reqs); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, sluice.ErrClosed
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
	err := s.inTx(ctx, func(tx *sql.Conn) error {
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
		return nil, unavailable("append", err)
	}
	s.committed(c)
	s.head, s.nextStreamID = c.Head, c.nextID
	s.notify.Publish(c.Head)
	return c.Results, nil
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
	namesJSON, err := json.Marshal(names)
	if err != nil {
		return err
	}
	err = s.queryEach(ctx, tx, "SELECT name, stream_id, version FROM streams WHERE name IN (SELECT value FROM json_each(?))", string(namesJSON), func(rows *sql.Rows) error {
		var name string
		var id int64
		var version uint64
		if err := rows.Scan(&name, &id, &version); err != nil {
			return err
		}
		c.streamIDs[name], c.Versions[name] = id, version
		return nil
	})
	if err != nil {
		return err
	}
	return s.lookupIDs(ctx, tx, c, hashes)
}

// queryEach runs the prepared query and calls scan for each row.
func (s *Store) queryEach(ctx context.Context, tx *sql.Conn, query string, arg any, scan func(*sql.Rows) error) error {
	stmt, err := s.stmt(ctx, query)
	if err != nil {
		return err
	}
	rows, err := stmt.QueryContext(ctx, arg)
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

// write stores the planned events in chunks, with their stream runs and the
// streams' new versions, giving new streams their ids.
func (s *Store) write(ctx context.Context, tx *sql.Conn, c *commit) error {
	changed := make([]string, 0, len(c.Streams))
	for name := range c.Streams {
		if _, ok := c.streamIDs[name]; !ok {
			c.streamIDs[name] = c.nextID
			c.nextID++
		}
		changed = append(changed, name)
	}
	insertChunkRow, err := s.stmt(ctx, "INSERT INTO chunks (last_position, first_position, events) VALUES (?, ?, ?)")
	if err != nil {
		return err
	}
	type run struct {
		stream      int64
		first, last uint64
		chunk       sluice.Position
	}
	var runs []run
	buf := s.chunkBuf[:0]
	defer func() {
		if cap(buf) <= chunkMaxBytes*2 { // keep a buffer of the usual size, not a giant one
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
		first, last := evs[0].Position, evs[n-1].Position
		buf = encodeChunk(buf[:0], evs, c.RecordedAt)
		if _, err := insertChunkRow.ExecContext(ctx, int64(last), int64(first), buf); err != nil {
			return fmt.Errorf("insert chunk: %w", err)
		}
		at := map[string]int{} // stream → index in runs, for this chunk
		for j := range evs {
			e := &evs[j]
			if i, ok := at[e.Stream]; ok {
				runs[i].last = e.Version
				continue
			}
			at[e.Stream] = len(runs)
			runs = append(runs, run{stream: c.streamIDs[e.Stream], first: e.Version, last: e.Version, chunk: last})
		}
	}
	err = s.insertRows(ctx, tx, "INSERT INTO stream_runs (stream_id, first_version, last_version, chunk) VALUES ", "", 4, len(runs), func(i int, args []any) []any {
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
