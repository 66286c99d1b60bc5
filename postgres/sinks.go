package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

// SinkState returns the sink's row; see sluice.Sinks.
func (s *Store) SinkState(ctx context.Context, name string) (sluice.SinkState, error) {
	op := fmt.Sprintf("read sink %q", name)
	if err := s.checkOpen(op); err != nil {
		return sluice.SinkState{}, err
	}
	st := sluice.SinkState{Name: name}
	var control, status []byte
	var at *time.Time
	err := s.pool.QueryRow(ctx, "SELECT control, revision, status, status_at FROM sinks WHERE name = $1", name).Scan(&control, &st.Revision, &status, &at)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return st, nil
	case err != nil:
		return st, s.fail(op, err)
	}
	if err := json.Unmarshal(control, &st.Control); err != nil {
		return st, fmt.Errorf("sink %q: control: %w", name, err)
	}
	if status != nil {
		st.Status = status
	}
	if at != nil {
		st.StatusAt = at.UTC()
	}
	return st, nil
}

// SetSinkControl replaces the sink's control if its revision is rev: a row
// with no control yet (written by SetSinkStatus) is at revision 0.
func (s *Store) SetSinkControl(ctx context.Context, name string, rev int64, c sluice.SinkControl) (int64, error) {
	op := fmt.Sprintf("set sink %q control", name)
	if err := s.checkOpen(op); err != nil {
		return 0, err
	}
	control, err := json.Marshal(c)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	query := "UPDATE sinks SET control = $2, revision = revision + 1 WHERE name = $1 AND revision = $3"
	if rev == 0 {
		query = `INSERT INTO sinks (name, control, revision) VALUES ($1, $2, 1)
			ON CONFLICT (name) DO UPDATE SET control = excluded.control, revision = 1 WHERE sinks.revision = $3`
	}
	tag, err := s.pool.Exec(ctx, query, name, string(control), rev)
	if err != nil {
		return 0, s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return 0, fmt.Errorf("%s at revision %d: %w", op, rev, sluice.ErrRevisionConflict)
	}
	return rev + 1, nil
}

// SetSinkStatus records the status, for every process to read.
func (s *Store) SetSinkStatus(ctx context.Context, name string, status json.RawMessage) error {
	op := fmt.Sprintf("set sink %q status", name)
	if err := s.checkOpen(op); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sinks (name, status, status_at) VALUES ($1, $2, now())
		ON CONFLICT (name) DO UPDATE SET status = excluded.status, status_at = excluded.status_at`, name, string(status))
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

const selectDeadLetters = "SELECT seq, sink, event, data, metadata, attempts, error, first_attempt_at, dead_lettered_at FROM dead_letters"

// AddDeadLetters stores the dead letters in one transaction. A dead letter
// replaces the row of its sink and event id (deleted, so the new row gets
// a new seq), and a later one of the batch an earlier one.
//
// The transaction locks the table against other writers first: seqs are
// drawn in commit order, so a listing that pages by Seq never passes a seq
// whose row is committed later.
func (s *Store) AddDeadLetters(ctx context.Context, ds []sluice.DeadLetter) error {
	if err := s.checkOpen("add dead letters"); err != nil {
		return err
	}
	type key struct{ sink, id string }
	last := make(map[key]int, len(ds))
	for i := range ds {
		last[key{ds[i].Sink, ds[i].Event.ID}] = i
	}
	if len(last) == 0 {
		return nil
	}
	now := time.Now()
	sinks, ids := make([]string, 0, len(last)), make([]string, 0, len(last))
	rows := make([][]any, 0, len(last))
	for i := range ds {
		d := &ds[i]
		if last[key{d.Sink, d.Event.ID}] != i {
			continue
		}
		r, err := sluice.NewEventRecord(&d.Event)
		if err != nil {
			return fmt.Errorf("add dead letters: %w", err)
		}
		at := d.At
		if at.IsZero() {
			at = now
		}
		sinks, ids = append(sinks, d.Sink), append(ids, d.Event.ID)
		rows = append(rows, []any{d.Sink, d.Event.ID, r.Envelope, r.Data, r.Metadata, d.Attempts, d.Error, d.FirstAttemptAt, at})
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE dead_letters IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM dead_letters d USING unnest($1::text[], $2::text[]) AS k(sink, id) WHERE d.sink = k.sink AND d.event_id = k.id", sinks, ids); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"dead_letters"},
			[]string{"sink", "event_id", "event", "data", "metadata", "attempts", "error", "first_attempt_at", "dead_lettered_at"}, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return s.fail("add dead letters", err)
	}
	return nil
}

// ListDeadLetters returns the selected dead letters in Seq order.
func (s *Store) ListDeadLetters(ctx context.Context, q sluice.DeadLetterQuery) ([]sluice.DeadLetter, error) {
	if err := s.checkOpen("list dead letters"); err != nil {
		return nil, err
	}
	conds, args := []string{"sink = $1", "seq > $2"}, []any{q.Sink, q.After}
	if len(q.IDs) > 0 {
		conds, args = append(conds, "event_id = ANY($3)"), append(args, q.IDs)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	query := fmt.Sprintf("%s WHERE %s ORDER BY seq LIMIT $%d", selectDeadLetters, strings.Join(conds, " AND "), len(args))
	rows, _ := s.pool.Query(ctx, query, args...) // CollectRows reports Query's error
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sluice.DeadLetter, error) {
		var d sluice.DeadLetter
		var r sluice.EventRecord
		if err := row.Scan(&d.Seq, &d.Sink, &r.Envelope, &r.Data, &r.Metadata, &d.Attempts, &d.Error, &d.FirstAttemptAt, &d.At); err != nil {
			return d, err
		}
		d.FirstAttemptAt, d.At = d.FirstAttemptAt.UTC(), d.At.UTC()
		var err error
		d.Event, err = r.Event()
		return d, err
	})
	if err != nil {
		return nil, s.fail("list dead letters", err)
	}
	return out, nil
}

// DeleteDeadLetters removes the sink's dead letters with these Seq numbers.
func (s *Store) DeleteDeadLetters(ctx context.Context, sink string, seqs []int64) error {
	if err := s.checkOpen("delete dead letters"); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM dead_letters WHERE sink = $1 AND seq = ANY($2)", sink, seqs); err != nil {
		return s.fail("delete dead letters", err)
	}
	return nil
}

// CountDeadLetters returns how many dead letters the sink has.
func (s *Store) CountDeadLetters(ctx context.Context, sink string) (int64, error) {
	if err := s.checkOpen("count dead letters"); err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM dead_letters WHERE sink = $1", sink).Scan(&n); err != nil {
		return 0, s.fail("count dead letters", err)
	}
	return n, nil
}
