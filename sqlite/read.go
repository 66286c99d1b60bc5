package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

const eventColumns = "position, id, stream, version, type, source, time, data, metadata, recorded_at"

// ReadStream returns events of one stream; see sluice.Log.
func (s *Store) ReadStream(ctx context.Context, name string, opts sluice.ReadStreamOptions) ([]sluice.Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var id int64
	err := s.r.QueryRowContext(ctx, "SELECT stream_id FROM streams WHERE name = ?", name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sluice.ErrStreamNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	q := "SELECT " + eventColumns + " FROM events WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?"
	from := int64(opts.FromVersion)
	if opts.Backward {
		q = "SELECT " + eventColumns + " FROM events WHERE stream_id = ? AND version <= ? ORDER BY version DESC LIMIT ?"
		if opts.FromVersion == 0 {
			from = 1<<63 - 1
		}
	}
	events, err := s.query(ctx, opts.Limit, q, id, from, max(opts.Limit, 1))
	if err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	return events, nil
}

// ReadLog returns events after a position that the filter keeps; see
// sluice.Log.
func (s *Store) ReadLog(ctx context.Context, after sluice.Position, f sluice.Filter, limit int) ([]sluice.Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var where strings.Builder
	args := []any{int64(after)}
	where.WriteString("position > ?")
	if len(f.Types) > 0 {
		where.WriteString(" AND type IN (" + strings.TrimSuffix(strings.Repeat("?,", len(f.Types)), ",") + ")")
		for _, t := range f.Types {
			args = append(args, t)
		}
	}
	if f.StreamPrefix != "" {
		where.WriteString(" AND stream >= ? AND stream < ?")
		args = append(args, f.StreamPrefix, f.StreamPrefix+prefixEnd)
	}
	if f.Category != "" {
		where.WriteString(" AND (stream = ? OR (stream >= ? AND stream < ?))")
		args = append(args, f.Category, f.Category+"-", f.Category+"-"+prefixEnd)
	}
	args = append(args, max(limit, 1))
	events, err := s.query(ctx, limit, "SELECT "+eventColumns+" FROM events WHERE "+where.String()+" ORDER BY position LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return events, nil
}

// prefixEnd follows every string that starts with a prefix p: p+prefixEnd
// bounds the range of names with that prefix. SQLite compares text byte by
// byte, and 0xff never occurs in UTF-8. (LIKE would fold ASCII case.)
const prefixEnd = "\xff"

// query runs an event query and scans its rows.
func (s *Store) query(ctx context.Context, sizeHint int, q string, args ...any) ([]sluice.Event, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	events := make([]sluice.Event, 0, min(max(sizeHint, 1), 1000))
	for rows.Next() {
		var e sluice.Event
		var recorded int64
		if err := rows.Scan(&e.Position, &e.ID, &e.Stream, &e.Version, &e.Type, &e.Source, &e.Time, (*[]byte)(&e.Data), (*[]byte)(&e.Metadata), &recorded); err != nil {
			return nil, err
		}
		e.RecordedAt = time.Unix(0, recorded).UTC()
		events = append(events, e)
	}
	return events, rows.Err()
}

// ListStreams returns streams by name; see sluice.Log.
func (s *Store) ListStreams(ctx context.Context, prefix, after string, limit int) ([]sluice.StreamInfo, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx,
		"SELECT name, version, last_position FROM streams WHERE name > ? AND name >= ? AND name < ? ORDER BY name LIMIT ?",
		after, prefix, prefix+prefixEnd, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	defer rows.Close()
	var out []sluice.StreamInfo
	for rows.Next() {
		var si sluice.StreamInfo
		if err := rows.Scan(&si.Stream, &si.Version, &si.LastPosition); err != nil {
			return nil, fmt.Errorf("list streams: %w", err)
		}
		out = append(out, si)
	}
	return out, rows.Err()
}
