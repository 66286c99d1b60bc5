package postgres

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

const (
	selectEvents = "SELECT position, id, stream, version, type, source, time, data, metadata, recorded_at FROM events"
	selectHead   = "SELECT position FROM log_head"
)

// ReadStream returns events of one stream, sluice.ErrStreamNotFound when it
// has none. A Limit below 1 counts as 1, as in every backend.
func (s *Store) ReadStream(ctx context.Context, stream string, opts sluice.ReadStreamOptions) ([]sluice.Event, error) {
	if err := s.checkOpen("read stream"); err != nil {
		return nil, err
	}
	q := selectEvents + " WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3"
	from := toInt64(opts.FromVersion)
	if opts.Backward {
		q = selectEvents + " WHERE stream = $1 AND version <= $2 ORDER BY version DESC LIMIT $3"
		if from == 0 {
			from = math.MaxInt64
		}
	}
	events, err := s.queryEvents(ctx, q, stream, from, max(opts.Limit, 1))
	if err == nil && len(events) == 0 {
		err = s.streamExists(ctx, stream)
	}
	if err != nil {
		return nil, s.fail("read stream", err)
	}
	return events, nil
}

// streamExists returns sluice.ErrStreamNotFound when stream has no events.
func (s *Store) streamExists(ctx context.Context, stream string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM streams WHERE stream = $1)", stream).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("stream %q: %w", stream, sluice.ErrStreamNotFound)
	}
	return nil
}

// ReadLog returns up to limit events (at least 1) after position after that
// f keeps, in position order. The filter is applied by the database.
func (s *Store) ReadLog(ctx context.Context, after sluice.Position, f sluice.Filter, limit int) ([]sluice.Event, error) {
	if err := s.checkOpen("read log"); err != nil {
		return nil, err
	}
	where, args := filterSQL(f, toInt64(uint64(after)))
	args = append(args, max(limit, 1))
	// Events found in a snapshot whose first position is not past after are
	// every one there is (retention moves it before it deletes); none found
	// may mean that it is.
	q := fmt.Sprintf("%s WHERE %s AND $1 + 1 >= (%s) ORDER BY position LIMIT $%d", selectEvents, where, selectFirst, len(args))
	events, err := s.queryEvents(ctx, q, args...)
	if err == nil && len(events) == 0 {
		err = s.goneAfter(ctx, after)
	}
	if err != nil {
		return nil, s.fail("read log", err)
	}
	return events, nil
}

// filterSQL returns the condition that selects the events after position
// after that f keeps, and its arguments ($1, $2, …).
func filterSQL(f sluice.Filter, after int64) (string, []any) {
	args := []any{after}
	conds := []string{"position > $1"}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if len(f.Types) > 0 {
		conds = append(conds, "type = ANY("+arg(f.Types)+")")
	}
	if f.StreamPrefix != "" {
		conds = append(conds, "stream LIKE "+arg(likePrefix(f.StreamPrefix))+` ESCAPE '\'`)
	}
	switch {
	case f.Category == "":
	case strings.Contains(f.Category, "-"):
		conds = append(conds, "false") // a category ends before the first '-'
	default:
		conds = append(conds, "(stream = "+arg(f.Category)+" OR stream LIKE "+arg(likePrefix(f.Category+"-"))+` ESCAPE '\')`)
	}
	return strings.Join(conds, " AND "), args
}

// likePrefix is the LIKE pattern of the strings that start with prefix.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

// queryEvents runs a query of selectEvents.
func (s *Store) queryEvents(ctx context.Context, q string, args ...any) ([]sluice.Event, error) {
	rows, _ := s.pool.Query(ctx, q, args...) // CollectRows reports Query's error
	return pgx.CollectRows(rows, readEvent)
}

// readEvent reads a row of selectEvents.
func readEvent(row pgx.CollectableRow) (sluice.Event, error) {
	var e sluice.Event
	var position, version int64
	var data, metadata []byte
	err := row.Scan(&position, &e.ID, &e.Stream, &version, &e.Type, &e.Source, &e.Time, &data, &metadata, &e.RecordedAt)
	e.Position, e.Version = sluice.Position(position), uint64(version)
	e.Data, e.Metadata = data, metadata
	e.RecordedAt = e.RecordedAt.UTC()
	return e, err
}

// ListStreams returns up to limit streams (at least 1) whose names start
// with prefix and sort after the name after, in byte order of their names.
func (s *Store) ListStreams(ctx context.Context, prefix, after string, limit int) ([]sluice.StreamInfo, error) {
	if err := s.checkOpen("list streams"); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT stream, version, last_position FROM streams
		WHERE stream LIKE $1 ESCAPE '\' AND stream > $2 ORDER BY stream LIMIT $3`,
		likePrefix(prefix), after, max(limit, 1)) // CollectRows reports Query's error
	infos, err := pgx.CollectRows(rows, readStreamInfo)
	if err != nil {
		return nil, s.fail("list streams", err)
	}
	return infos, nil
}

func readStreamInfo(row pgx.CollectableRow) (sluice.StreamInfo, error) {
	var info sluice.StreamInfo
	var version, last int64
	err := row.Scan(&info.Stream, &version, &last)
	info.Version, info.LastPosition = uint64(version), sluice.Position(last)
	return info, err
}

// Head returns the highest committed position.
func (s *Store) Head(ctx context.Context) (sluice.Position, error) {
	if err := s.checkOpen("head"); err != nil {
		return 0, err
	}
	var head int64
	if err := s.pool.QueryRow(ctx, selectHead).Scan(&head); err != nil {
		return 0, s.fail("head", err)
	}
	return sluice.Position(head), nil
}

// toInt64 converts a position or version to bigint, saturating.
func toInt64(u uint64) int64 {
	return int64(min(u, math.MaxInt64))
}
