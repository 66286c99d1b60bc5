package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// sinkStatuses are the statuses that runners report: only this process
// opens the store, so they live in memory.
type sinkStatuses struct {
	mu sync.Mutex
	m  map[string]sinkStatus
}

type sinkStatus struct {
	status json.RawMessage
	at     time.Time
}

// SinkState returns the sink's control from the database and its status
// from memory; see sluice.Sinks.
func (s *Store) SinkState(ctx context.Context, name string) (sluice.SinkState, error) {
	if err := s.checkOpen(); err != nil {
		return sluice.SinkState{}, err
	}
	st := sluice.SinkState{Name: name}
	var control []byte
	err := s.reads.QueryRowContext(ctx, "SELECT control, revision FROM sinks WHERE name = ?", name).Scan(&control, &st.Revision)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return st, fmt.Errorf("read sink %q: %w", name, err)
	default:
		if err := json.Unmarshal(control, &st.Control); err != nil {
			return st, fmt.Errorf("sink %q: control: %w", name, err)
		}
	}
	s.statuses.mu.Lock()
	defer s.statuses.mu.Unlock()
	if ss, ok := s.statuses.m[name]; ok {
		st.Status, st.StatusAt = ss.status, ss.at
	}
	return st, nil
}

// SetSinkControl replaces the sink's control if its revision is rev.
func (s *Store) SetSinkControl(ctx context.Context, name string, rev int64, c sluice.SinkControl) (int64, error) {
	control, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("set sink %q control: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, sluice.ErrClosed
	}
	// Revision 0 is a sink with no row, or a row never given a control.
	res, err := s.wc.ExecContext(ctx, `INSERT INTO sinks (name, control, revision) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET control = excluded.control, revision = excluded.revision WHERE revision = ?`,
		name, string(control), rev+1, rev)
	if err != nil {
		return 0, unavailable(fmt.Sprintf("set sink %q control", name), err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, fmt.Errorf("set sink %q control at revision %d: %w", name, rev, sluice.ErrRevisionConflict)
	}
	return rev + 1, nil
}

// SetSinkStatus keeps the status in memory.
func (s *Store) SetSinkStatus(ctx context.Context, name string, status json.RawMessage) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	s.statuses.mu.Lock()
	defer s.statuses.mu.Unlock()
	if s.statuses.m == nil {
		s.statuses.m = map[string]sinkStatus{}
	}
	s.statuses.m[name] = sinkStatus{status: append(json.RawMessage(nil), status...), at: time.Now().UTC()}
	return nil
}

const selectDeadLetters = "SELECT seq, sink, event, data, metadata, attempts, error, first_attempt_at, dead_lettered_at FROM dead_letters"

// AddDeadLetters stores the dead letters in one transaction; a dead letter
// of a sink and event id already stored replaces the row (INSERT OR
// REPLACE deletes it), so it gets a new seq.
func (s *Store) AddDeadLetters(ctx context.Context, ds []sluice.DeadLetter) error {
	now := time.Now().UnixNano()
	rows := make([][]any, len(ds))
	for i := range ds {
		d := &ds[i]
		r, err := sluice.NewEventRecord(&d.Event)
		if err != nil {
			return fmt.Errorf("add dead letters: %w", err)
		}
		at := now
		if !d.At.IsZero() {
			at = d.At.UnixNano()
		}
		rows[i] = []any{d.Sink, d.Event.ID, string(r.Envelope), r.Data, r.Metadata, d.Attempts, d.Error, d.FirstAttemptAt.UnixNano(), at}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	if len(ds) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Conn) error {
		return s.insertRows(ctx, tx, "INSERT OR REPLACE INTO dead_letters (sink, event_id, event, data, metadata, attempts, error, first_attempt_at, dead_lettered_at) VALUES ",
			"", 9, len(rows), func(i int, args []any) []any { return append(args, rows[i]...) })
	})
	if err != nil {
		return unavailable("add dead letters", err)
	}
	return nil
}

// ListDeadLetters returns the selected dead letters in Seq order.
func (s *Store) ListDeadLetters(ctx context.Context, q sluice.DeadLetterQuery) ([]sluice.DeadLetter, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	conds, args := []string{"sink = ?", "seq > ?"}, []any{q.Sink, q.After}
	if len(q.IDs) > 0 {
		ids, _ := json.Marshal(q.IDs) // a []string always encodes
		conds, args = append(conds, "event_id IN (SELECT value FROM json_each(?))"), append(args, string(ids))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.reads.QueryContext(ctx, selectDeadLetters+" WHERE "+strings.Join(conds, " AND ")+" ORDER BY seq LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	var out []sluice.DeadLetter
	for rows.Next() {
		var d sluice.DeadLetter
		var r sluice.EventRecord
		var first, at int64
		if err := rows.Scan(&d.Seq, &d.Sink, &r.Envelope, &r.Data, &r.Metadata, &d.Attempts, &d.Error, &first, &at); err != nil {
			return nil, fmt.Errorf("list dead letters: %w", err)
		}
		if d.Event, err = r.Event(); err != nil {
			return nil, fmt.Errorf("dead letter %d: %w", d.Seq, err)
		}
		d.FirstAttemptAt, d.At = time.Unix(0, first).UTC(), time.Unix(0, at).UTC()
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return out, nil
}

// DeleteDeadLetters removes the sink's dead letters with these Seq numbers.
func (s *Store) DeleteDeadLetters(ctx context.Context, sink string, seqs []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	list, _ := json.Marshal(seqs) // an []int64 always encodes
	if _, err := s.wc.ExecContext(ctx, "DELETE FROM dead_letters WHERE sink = ? AND seq IN (SELECT value FROM json_each(?))", sink, string(list)); err != nil {
		return unavailable("delete dead letters", err)
	}
	return nil
}

// CountDeadLetters returns how many dead letters the sink has.
func (s *Store) CountDeadLetters(ctx context.Context, sink string) (int64, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var n int64
	if err := s.reads.QueryRowContext(ctx, "SELECT count(*) FROM dead_letters WHERE sink = ?", sink).Scan(&n); err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}
