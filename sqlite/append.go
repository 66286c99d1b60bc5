package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// insertChunk is the number of events one INSERT statement carries: one
// statement per chunk instead of one per event keeps the driver's per-call
// cost out of the commit.
const insertChunk = 64

const insertColumns = 12

func insertSQL(rows int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", insertColumns), ",") + ")"
	return "INSERT INTO events (position, id, id_hash, stream, stream_id, version, type, source, time, data, metadata, recorded_at) VALUES " +
		strings.TrimSuffix(strings.Repeat(row+",", rows), ",")
}

// idHash is the key of the dedupe index: 64 bits of FNV-1a of the id. A
// match is confirmed by comparing the stored id, so collisions cost a read,
// never a lost event.
func idHash(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int64(h.Sum64())
}

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
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, unavailable("append", err)
	}
	defer tx.Rollback()

	c, err := s.load(ctx, tx, reqs)
	if err != nil {
		return nil, unavailable("append", err)
	}
	results := make([]sluice.AppendResult, len(reqs))
	for i := range reqs {
		results[i] = c.plan(&reqs[i])
	}
	if err := s.write(ctx, tx, c); err != nil {
		return nil, unavailable("append", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, unavailable("append", err)
	}
	s.head = c.head
	s.notify.Publish(c.head)
	return results, nil
}

// load reads what the commit needs: the streams it touches and the events
// already stored under its ids.
func (s *Store) load(ctx context.Context, tx *sql.Tx, reqs []sluice.AppendRequest) (*commit, error) {
	c := &commit{
		streams:  map[string]*stream{},
		ids:      map[string]sluice.Appended{},
		head:     s.head,
		recorded: time.Now().UTC(),
	}
	var names []any
	var hashes []any
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
	err := queryIn(ctx, tx, "SELECT name, stream_id, version, last_position FROM streams WHERE name IN ", names, func(rows *sql.Rows) error {
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
	err = queryIn(ctx, tx, "SELECT id, position, version FROM events WHERE id_hash IN ", hashes, func(rows *sql.Rows) error {
		var a sluice.Appended
		if err := rows.Scan(&a.ID, &a.Position, &a.Version); err != nil {
			return err
		}
		a.Duplicate = true
		c.ids[a.ID] = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(stream_id), 0) + 1 FROM streams").Scan(&c.nextID); err != nil {
		return nil, err
	}
	return c, nil
}

// queryIn runs query with "(?, ?, …)" appended for args, in chunks that stay
// under SQLite's limit on parameters, calling scan for each row.
func queryIn(ctx context.Context, tx *sql.Tx, query string, args []any, scan func(*sql.Rows) error) error {
	const chunk = 10_000
	for len(args) > 0 {
		n := min(len(args), chunk)
		rows, err := tx.QueryContext(ctx, query+"("+strings.TrimSuffix(strings.Repeat("?,", n), ",")+")", args[:n]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return err
		}
		args = args[n:]
	}
	return nil
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
func (s *Store) write(ctx context.Context, tx *sql.Tx, c *commit) error {
	rows := c.rows
	full := tx.StmtContext(ctx, s.insert)
	args := make([]any, 0, insertChunk*insertColumns)
	for len(rows) > 0 {
		n := min(len(rows), insertChunk)
		args = args[:0]
		for _, e := range rows[:n] {
			var meta []byte
			if len(e.Metadata) > 0 {
				meta = e.Metadata
			}
			args = append(args, int64(e.Position), e.ID, idHash(e.ID), e.Stream, c.streams[e.Stream].id,
				int64(e.Version), e.Type, e.Source, e.Time, []byte(e.Data), meta, e.RecordedAt.UnixNano())
		}
		var err error
		if n == insertChunk {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertSQL(n), args...)
		}
		if err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		rows = rows[n:]
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

// unavailable wraps a failure to write: the store could not do it now (disk
// full, I/O error, closed), and the caller may retry.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, sluice.ErrUnavailable, err)
}
