package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

const selectQuarantine = "SELECT seq, event, data, metadata, reasons, key, quarantined_at FROM quarantine"

// quarantineColumns are the columns that AddQuarantined writes, in the
// order of quarantineRow.
var quarantineColumns = []string{"event_id", "type", "event", "data", "metadata", "reasons", "key", "quarantined_at"}

// AddQuarantined stores the events in one transaction; see
// sluice.Quarantine. The store assigns Seq (a given one is ignored), and At
// when it is zero. An event replaces the row of its id (deleted, so the new
// row gets a new seq), and a later event of the batch an earlier one of the
// same id.
//
// The transaction locks the table against other writers first: seqs are
// drawn in commit order, so a listing that pages by Seq never passes a seq
// whose row is committed later. Readers are not blocked.
func (s *Store) AddQuarantined(ctx context.Context, qs []sluice.Quarantined) error {
	if err := s.checkOpen("add quarantined"); err != nil {
		return err
	}
	now := time.Now()
	last := make(map[string]int, len(qs)) // event id → index of its last event in qs
	for i := range qs {
		last[qs[i].Event.ID] = i
	}
	ids := make([]string, 0, len(last))
	rows := make([][]any, 0, len(last))
	for i := range qs {
		if last[qs[i].Event.ID] != i {
			continue
		}
		row, err := quarantineRow(&qs[i], now)
		if err != nil {
			return fmt.Errorf("add quarantined: %w", err)
		}
		ids, rows = append(ids, qs[i].Event.ID), append(rows, row)
	}
	if len(rows) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "LOCK TABLE quarantine IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM quarantine WHERE event_id = ANY($1)", ids); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"quarantine"}, quarantineColumns, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return s.fail("add quarantined", err)
	}
	return nil
}

// quarantineRow is q as a row of quarantineColumns; its time is now when
// q.At is zero.
func quarantineRow(q *sluice.Quarantined, now time.Time) ([]any, error) {
	r, err := q.Record()
	if err != nil {
		return nil, err
	}
	at := q.At
	if at.IsZero() {
		at = now
	}
	return []any{q.Event.ID, q.Event.Type, r.Envelope, r.Data, r.Metadata, r.Reasons, q.Key, at}, nil
}

// ListQuarantined returns the selected events in Seq order; see
// sluice.QuarantineQuery.
func (s *Store) ListQuarantined(ctx context.Context, q sluice.QuarantineQuery) ([]sluice.Quarantined, error) {
	if err := s.checkOpen("list quarantined"); err != nil {
		return nil, err
	}
	args := []any{q.After}
	conds := []string{"seq > $1"}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(q.IDs) > 0 {
		conds = append(conds, "event_id = ANY("+arg(q.IDs)+")")
	}
	if len(q.Types) > 0 {
		conds = append(conds, "type = ANY("+arg(q.Types)+")")
	}
	if !q.Since.IsZero() {
		conds = append(conds, "quarantined_at >= "+arg(q.Since))
	}
	if !q.Until.IsZero() {
		conds = append(conds, "quarantined_at < "+arg(q.Until))
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	query := selectQuarantine + " WHERE " + strings.Join(conds, " AND ") + " ORDER BY seq LIMIT " + arg(limit)
	rows, _ := s.pool.Query(ctx, query, args...) // CollectRows reports Query's error
	out, err := pgx.CollectRows(rows, readQuarantined)
	if err != nil {
		return nil, s.fail("list quarantined", err)
	}
	return out, nil
}

// readQuarantined reads a row of selectQuarantine.
func readQuarantined(row pgx.CollectableRow) (sluice.Quarantined, error) {
	var q sluice.Quarantined
	var r sluice.QuarantineRecord
	if err := row.Scan(&q.Seq, &r.Envelope, &r.Data, &r.Metadata, &r.Reasons, &q.Key, &q.At); err != nil {
		return q, err
	}
	q.At = q.At.UTC()
	return q, q.SetRecord(r)
}

// DeleteQuarantined removes the events with these Seq numbers.
func (s *Store) DeleteQuarantined(ctx context.Context, seqs []int64) error {
	if err := s.checkOpen("delete quarantined"); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM quarantine WHERE seq = ANY($1)", seqs); err != nil {
		return s.fail("delete quarantined", err)
	}
	return nil
}

// TrimQuarantine removes the events quarantined before olderThan (unless
// it is zero), then the oldest (by Seq) beyond maxCount (unless it is 0),
// in one transaction, and returns how many it removed.
func (s *Store) TrimQuarantine(ctx context.Context, maxCount int, olderThan time.Time) (int, error) {
	if err := s.checkOpen("trim quarantine"); err != nil {
		return 0, err
	}
	removed := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if !olderThan.IsZero() {
			tag, err := tx.Exec(ctx, "DELETE FROM quarantine WHERE quarantined_at < $1", olderThan)
			if err != nil {
				return err
			}
			removed += int(tag.RowsAffected())
		}
		if maxCount > 0 {
			// The subquery is the newest seq beyond maxCount, NULL when
			// there are not that many.
			tag, err := tx.Exec(ctx, "DELETE FROM quarantine WHERE seq <= (SELECT seq FROM quarantine ORDER BY seq DESC OFFSET $1 LIMIT 1)", maxCount)
			if err != nil {
				return err
			}
			removed += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, s.fail("trim quarantine", err)
	}
	return removed, nil
}
