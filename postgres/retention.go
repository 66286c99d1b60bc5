package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

var _ sluice.Retainer = (*Store)(nil)

const (
	// retentionUnit is how many positions retention removes as a whole:
	// Trim moves the first position to 1 past a multiple of it.
	retentionUnit = 1 << 16
	// trimStep is how many positions one DELETE of Trim removes, in a
	// transaction of its own (D126).
	trimStep    = 10_000
	selectFirst = "SELECT position FROM log_first"
)

// FirstPosition is the first position the log holds; see sluice.Retainer.
func (s *Store) FirstPosition(ctx context.Context) (sluice.Position, error) {
	if err := s.checkOpen("first position"); err != nil {
		return 0, err
	}
	var first int64
	if err := s.pool.QueryRow(ctx, selectFirst).Scan(&first); err != nil {
		return 0, s.fail("first position", err)
	}
	return sluice.Position(first), nil
}

// RetentionCut returns where whole units of retentionUnit positions could
// go by age and size; see sluice.Retainer. The age is found by halves on
// the primary key (commit times grow with positions); the size is
// estimated from the average size of the rows of a 1 % sample times the
// number of events held, since the table's size on disk does not shrink
// when rows are deleted.
func (s *Store) RetentionCut(ctx context.Context, olderThan time.Time, maxBytes int64) (sluice.Position, error) {
	if err := s.checkOpen("retention cut"); err != nil {
		return 0, err
	}
	var first, head int64
	if err := s.pool.QueryRow(ctx, "SELECT (SELECT position FROM log_first), (SELECT position FROM log_head)").Scan(&first, &head); err != nil {
		return 0, s.fail("retention cut", err)
	}
	keep := head + 1 // events before it may go
	if !olderThan.IsZero() {
		p, err := s.firstRecordedAtOrAfter(ctx, first, head, olderThan)
		if err != nil {
			return 0, s.fail("retention cut", err)
		}
		keep = p
	}
	if maxBytes > 0 && head >= first {
		var avg float64
		err := s.pool.QueryRow(ctx, "SELECT coalesce(avg(pg_column_size(e.*)), 0) FROM events e TABLESAMPLE SYSTEM (1)").Scan(&avg)
		if err != nil {
			return 0, s.fail("retention cut", err)
		}
		if avg == 0 { // a sample of no page: read a few rows instead
			if err := s.pool.QueryRow(ctx, "SELECT coalesce(avg(pg_column_size(e.*)), 0) FROM (SELECT * FROM events ORDER BY position DESC LIMIT 1000) e").Scan(&avg); err != nil {
				return 0, s.fail("retention cut", err)
			}
		}
		if avg > 0 {
			if n := int64(float64(maxBytes) / avg); head-first+1 > n {
				keep = min(keep, head-n+1)
			}
		}
	}
	return sluice.Position(max(unitStart(keep), first)), nil
}

// unitStart is the first position of the unit that holds p.
func unitStart(p int64) int64 { return (p-1)/retentionUnit*retentionUnit + 1 }

// firstRecordedAtOrAfter is the first position in [first, head+1] whose
// event was recorded at or after t (head+1 when none was).
func (s *Store) firstRecordedAtOrAfter(ctx context.Context, first, head int64, t time.Time) (int64, error) {
	lo, hi := first, head+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		var at time.Time
		err := s.pool.QueryRow(ctx, "SELECT position, recorded_at FROM events WHERE position >= $1 ORDER BY position LIMIT 1", mid).Scan(&mid, &at)
		if err == pgx.ErrNoRows {
			hi = mid
			continue
		}
		if err != nil {
			return 0, err
		}
		if !at.Before(t) {
			hi = min(hi, mid)
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// Trim removes the whole units before before; see sluice.Retainer. The
// first position moves first, in a transaction of its own, so that readers
// of what goes are refused from then on; then the events go in DELETEs of
// trimStep positions, each its own transaction, which take no lock that
// an append waits for. A Trim interrupted goes on at the next one.
func (s *Store) Trim(ctx context.Context, before sluice.Position) (sluice.Position, error) {
	if err := s.checkOpen("trim"); err != nil {
		return 0, err
	}
	cut := unitStart(toInt64(uint64(max(before, 1))))
	var first int64
	err := s.pool.QueryRow(ctx, "UPDATE log_first SET position = greatest(position, least($1, (SELECT position FROM log_head) + 1)) RETURNING position", cut).Scan(&first)
	if err != nil {
		return 0, s.fail("trim", err)
	}
	var lo int64
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(min(position), $1) FROM events", first).Scan(&lo); err != nil {
		return sluice.Position(first), s.fail("trim", err)
	}
	for ; lo < first; lo += trimStep {
		if _, err := s.pool.Exec(ctx, "DELETE FROM events WHERE position >= $1 AND position < $2", lo, min(lo+trimStep, first)); err != nil {
			return sluice.Position(first), s.fail("trim", err)
		}
	}
	return sluice.Position(first), nil
}

// goneAfter returns a *sluice.GoneError when the log starts past after+1.
func (s *Store) goneAfter(ctx context.Context, after sluice.Position) error {
	var first int64
	if err := s.pool.QueryRow(ctx, selectFirst).Scan(&first); err != nil {
		return err
	}
	return sluice.GoneBefore(after, sluice.Position(first))
}
