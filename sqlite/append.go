package sqlite

import (
	"context"
	"errors"
	"encoding/json"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// insertChunk is the most rows one INSERT statement carries: one statement
// per chunk instead of one per row keeps the driver's per-call cost out of
// the commit.
const insertChunk = 64

// stream is what a commit knows of one stream.
type stream struct {
	id      int64
	version uint64
	last    sluice.Position
	known   bool // in the streams table already
	changed bool
}

// commit is the state of one Append while it is being planned.
type commit struct {
	streams  map[string]*stream
	ids      map[string]sluice.Appended // existing ids and ids of this call
	rows     []*sluice.Event
	head     sluice.Position
	nextID   int64 // next stream id to give out
	recorded time.Time
}

// Append stores the requests in one transaction; see sluice.Log.
func (s *Store) Append(ctx context.Context, reqs []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	if err := s.limits.Prepare(reqs); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, sluice.ErrClosed
	}
	var c *commit
	var results []sluice.AppendResult
	flush := false
	err := s.inTx(ctx, func(tx *sql.Conn) error {
		var err error
		if c, err = s.load(ctx, tx, reqs); err != nil {
			return err
		}
		results = make([]sluice.AppendResult, len(reqs))
		for i := range reqs {
			results[i] = c.plan(&reqs[i])
		}
		if err := s.write(ctx, tx, c); err != nil {
			return err
		}
		if flush = s.needsFlush(c); flush {
			return s.flushIDs(ctx, tx, c)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("append", err)
	}
	s.committed(c, flush)
	s.head = c.head
	s.notify.Publish(c.head)
	return results, nil
}

// load reads what the commit needs: the streams it touches and the events
// already stored under its ids.
func (s *Store) load(ctx context.Context, tx *sql.Conn, reqs []sluice.AppendRequest) (*commit, error) {
	c := &commit{
		streams:  map[string]*stream{},
		ids:      map[string]sluice.Appended{},
		head:     s.head,
		recorded: time.Now().UTC(),
	}
	var names []string
	var hashes []int64
	for _, r := range reqs {
		for i := range r.Events {
			e := &r.Events[i]
			if _, ok := c.streams[e.Stream]; !ok {
				c.streams[e.Stream] = &stream{}
				names = append(names, e.Stream)
			}
			hashes = append(hashes, idHash(e.ID))
		}
	}
	namesJSON, err := json.Marshal(names)
	if err != nil {
		return nil, err
	}
	err = queryEach(ctx, tx, "SELECT name, stream_id, version, last_position FROM streams WHERE name IN (SELECT value FROM json_each(?))", string(namesJSON), func(rows *sql.Rows) error {
		var name string
		st := &stream{known: true}
		if err := rows.Scan(&name, &st.id, &st.version, &st.last); err != nil {
			return err
		}
		c.streams[name] = st
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.lookupIDs(ctx, tx, c, hashes); err != nil {
		return nil, err
	}
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(stream_id), 0) + 1 FROM streams").Scan(&c.nextID); err != nil {
		return nil, err
	}
	return c, nil
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
		// Rollback with a fresh context: ctx may be why fn failed. After a
		// failed COMMIT SQLite may have rolled back already.
		if _, rerr := s.wc.ExecContext(context.Background(), "ROLLBACK"); rerr != nil && !strings.Contains(rerr.Error(), "no transaction is active") {
			return errors.Join(err, rerr)
		}
	}
	return err
}

// queryEach runs query and calls scan for each row.
func queryEach(ctx context.Context, tx *sql.Conn, query string, arg any, scan func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, arg)
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

// plan decides what becomes of one request and stages its new events.
func (c *commit) plan(r *sluice.AppendRequest) sluice.AppendResult {
	out := make([]sluice.Appended, len(r.Events))
	fresh := 0
	for i := range r.Events {
		if a, dup := c.ids[r.Events[i].ID]; dup {
			out[i] = a
		} else {
			fresh++
		}
	}
	if r.Stream != "" && fresh > 0 {
		if err := r.Expected.Check(r.Stream, c.streams[r.Stream].version); err != nil {
			return sluice.AppendResult{Err: err}
		}
	}
	for i := range r.Events {
		e := &r.Events[i]
		if out[i].Duplicate {
			continue
		}
		if a, dup := c.ids[e.ID]; dup { // twice in this request
			out[i] = a
			continue
		}
		st := c.streams[e.Stream]
		if !st.known && st.id == 0 {
			st.id = c.nextID
			c.nextID++
		}
		c.head++
		st.version++
		st.last = c.head
		st.changed = true
		e.Position, e.Version, e.RecordedAt = c.head, st.version, c.recorded
		out[i] = sluice.Appended{ID: e.ID, Position: e.Position, Version: e.Version}
		c.ids[e.ID] = sluice.Appended{ID: e.ID, Position: e.Position, Version: e.Version, Duplicate: true}
		c.rows = append(c.rows, e)
	}
	return sluice.AppendResult{Events: out}
}

// write inserts the staged events and the streams' new versions.
func (s *Store) write(ctx context.Context, tx *sql.Conn, c *commit) error {
	err := s.insertRows(ctx, tx, "INSERT INTO events (position, id, id_hash, stream, stream_id, version, type, source, time, data, metadata, recorded_at) VALUES ", 12, len(c.rows), func(i int, args []any) []any {
		e := c.rows[i]
		var meta []byte
		if len(e.Metadata) > 0 {
			meta = e.Metadata
		}
		return append(args, int64(e.Position), e.ID, idHash(e.ID), e.Stream, c.streams[e.Stream].id,
			int64(e.Version), e.Type, e.Source, e.Time, []byte(e.Data), meta, e.RecordedAt.UnixNano())
	})
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	for name, st := range c.streams {
		if !st.changed {
			continue
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO streams (stream_id, name, version, last_position) VALUES (?, ?, ?, ?)
			ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, last_position = excluded.last_position`,
			st.id, name, int64(st.version), int64(st.last))
		if err != nil {
			return fmt.Errorf("update streams: %w", err)
		}
	}
	return nil
}

// insertRows inserts n rows of cols columns with statements of up to
// insertChunk rows, prepared once and kept; row appends row i's values.
func (s *Store) insertRows(ctx context.Context, tx *sql.Conn, insert string, cols, n int, row func(i int, args []any) []any) error {
	args := make([]any, 0, insertChunk*cols)
	for done := 0; done < n; {
		k := min(n-done, insertChunk)
		stmt, err := s.stmt(ctx, insert, cols, k)
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

// stmt returns the prepared statement insert with rows groups of cols
// placeholders. Callers hold s.mu.
func (s *Store) stmt(ctx context.Context, insert string, cols, rows int) (*sql.Stmt, error) {
	q := insert + strings.TrimSuffix(strings.Repeat("("+strings.TrimSuffix(strings.Repeat("?,", cols), ",")+"),", rows), ",")
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	st, err := s.wc.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.stmts[q] = st
	return st, nil
}

// unavailable wraps a failure to write: the store could not do it now (disk
// full, I/O error, closed), and the caller may retry.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, sluice.ErrUnavailable, err)
}
