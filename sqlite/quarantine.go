package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

const selectQuarantine = "SELECT seq, event, data, metadata, reasons, key, quarantined_at FROM quarantine"

// AddQuarantined stores the events in one transaction; see
// sluice.Quarantine. The store assigns Seq (a given one is ignored), and At
// when it is zero. INSERT OR REPLACE deletes the row of an event id already
// quarantined, so the new row gets a new seq.
func (s *Store) AddQuarantined(ctx context.Context, qs []sluice.Quarantined) error {
	now := time.Now()
	rows := make([][]any, len(qs))
	for i := range qs {
		row, err := quarantineRow(&qs[i], now)
		if err != nil {
			return fmt.Errorf("add quarantined: %w", err)
		}
		rows[i] = row
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	if len(rows) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Conn) error {
		return s.insertRows(ctx, tx, "INSERT OR REPLACE INTO quarantine (event_id, type, event, data, metadata, reasons, key, quarantined_at) VALUES ",
			"", 8, len(rows), func(i int, args []any) []any { return append(args, rows[i]...) })
	})
	if err != nil {
		return unavailable("add quarantined", err)
	}
	return nil
}

// quarantineRow is q as the values of a row of quarantine, from event_id on;
// its time is now when q.At is zero.
func quarantineRow(q *sluice.Quarantined, now time.Time) ([]any, error) {
	r, err := q.Record()
	if err != nil {
		return nil, err
	}
	at := q.At
	if at.IsZero() {
		at = now
	}
	return []any{q.Event.ID, q.Event.Type, string(r.Envelope), r.Data, r.Metadata, string(r.Reasons), q.Key, at.UnixNano()}, nil
}

// ListQuarantined returns the selected events in Seq order; see
// sluice.QuarantineQuery.
func (s *Store) ListQuarantined(ctx context.Context, q sluice.QuarantineQuery) ([]sluice.Quarantined, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	conds, args := []string{"seq > ?"}, []any{q.After}
	if len(q.IDs) > 0 {
		ids, _ := json.Marshal(q.IDs) // a []string always encodes
		conds, args = append(conds, "event_id IN (SELECT value FROM json_each(?))"), append(args, string(ids))
	}
	if len(q.Types) > 0 {
		types, _ := json.Marshal(q.Types)
		conds, args = append(conds, "type IN (SELECT value FROM json_each(?))"), append(args, string(types))
	}
	if !q.Since.IsZero() {
		conds, args = append(conds, "quarantined_at >= ?"), append(args, q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		conds, args = append(conds, "quarantined_at < ?"), append(args, q.Until.UnixNano())
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.reads.QueryContext(ctx, selectQuarantine+" WHERE "+strings.Join(conds, " AND ")+" ORDER BY seq LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list quarantined: %w", err)
	}
	defer rows.Close()
	var out []sluice.Quarantined
	for rows.Next() {
		qd, err := scanQuarantined(rows)
		if err != nil {
			return nil, fmt.Errorf("list quarantined: %w", err)
		}
		out = append(out, qd)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quarantined: %w", err)
	}
	return out, nil
}

// scanQuarantined reads a row of selectQuarantine.
func scanQuarantined(rows *sql.Rows) (sluice.Quarantined, error) {
	var q sluice.Quarantined
	var r sluice.QuarantineRecord
	var at int64
	if err := rows.Scan(&q.Seq, &r.Envelope, &r.Data, &r.Metadata, &r.Reasons, &q.Key, &at); err != nil {
		return q, err
	}
	q.At = time.Unix(0, at).UTC()
	return q, q.SetRecord(r)
}

// DeleteQuarantined removes the events with these Seq numbers.
func (s *Store) DeleteQuarantined(ctx context.Context, seqs []int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	list, _ := json.Marshal(seqs) // an []int64 always encodes
	if _, err := s.wc.ExecContext(ctx, "DELETE FROM quarantine WHERE seq IN (SELECT value FROM json_each(?))", string(list)); err != nil {
		return unavailable("delete quarantined", err)
	}
	return nil
}

// TrimQuarantine removes the events quarantined before olderThan (unless
// it is zero), then the oldest (by Seq) beyond maxCount (unless it is 0),
// in one transaction, and returns how many it removed.
func (s *Store) TrimQuarantine(ctx context.Context, maxCount int, olderThan time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return 0, sluice.ErrClosed
	}
	removed := 0
	err := s.inTx(ctx, func(tx *sql.Conn) error {
		del := func(query string, arg any) error {
			res, err := tx.ExecContext(ctx, query, arg)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			removed += int(n)
			return err
		}
		if !olderThan.IsZero() {
			if err := del("DELETE FROM quarantine WHERE quarantined_at < ?", olderThan.UnixNano()); err != nil {
				return err
			}
		}
		if maxCount > 0 {
			// The subquery is the newest seq beyond maxCount, NULL when
			// there are not that many.
			return del("DELETE FROM quarantine WHERE seq <= (SELECT seq FROM quarantine ORDER BY seq DESC LIMIT 1 OFFSET ?)", maxCount)
		}
		return nil
	})
	if err != nil {
		return 0, unavailable("trim quarantine", err)
	}
	return removed, nil
}
