package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/sluicehq/sluice"
)

// queryer is what reads need of a connection: the reading pool, or the
// writing connection inside a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// chunkColumns are the columns of chunks that scanRef reads.
const chunkColumns = "first_position, last_position, segment, file_offset, frame_length"

func scanRef(row interface{ Scan(...any) error }) (chunkRef, error) {
	var r chunkRef
	err := row.Scan(&r.first, &r.last, &r.segment, &r.offset, &r.length)
	return r, err
}

// chunkAt reads and decodes the chunk that holds position p.
func (s *Store) chunkAt(ctx context.Context, q queryer, p sluice.Position) ([]sluice.Event, error) {
	ref, err := scanRef(q.QueryRowContext(ctx, "SELECT "+chunkColumns+" FROM chunks WHERE last_position >= ? ORDER BY last_position LIMIT 1", int64(p)))
	if err != nil {
		return nil, fmt.Errorf("read chunk at %d: %w", p, err)
	}
	var evs []sluice.Event
	err = s.readChunks([]chunkRef{ref}, func(chunk []sluice.Event) bool {
		evs = chunk
		return true
	})
	return evs, err
}

// readAhead is how many bytes of consecutive frames scanChunks reads with
// one pread: a reader at the tail of a log written one event per commit
// would otherwise pay a system call per event.
const readAhead = 64 << 10

// scanChunks calls fn for each event after position after, in order, until
// fn returns false or the log ends. Chunks are read (consecutive ones
// together, up to readAhead) and decoded as the cursor reaches them.
func (s *Store) scanChunks(ctx context.Context, q queryer, after sluice.Position, fn func(*sluice.Event) bool) error {
	rows, err := q.QueryContext(ctx, "SELECT "+chunkColumns+" FROM chunks WHERE last_position > ? ORDER BY last_position", int64(after))
	if err != nil {
		return err
	}
	defer rows.Close()
	more := true
	each := func(evs []sluice.Event) bool {
		for i := range evs {
			if evs[i].Position > after && !fn(&evs[i]) {
				more = false
				return false
			}
		}
		return true
	}
	var group []chunkRef
	var groupBytes int64
	for rows.Next() {
		ref, err := scanRef(rows)
		if err != nil {
			return err
		}
		if n := len(group); n > 0 {
			prev := group[n-1]
			if ref.segment != prev.segment || ref.offset != prev.offset+prev.length || groupBytes+ref.length > readAhead {
				if err := s.readChunks(group, each); err != nil || !more {
					return err
				}
				group, groupBytes = group[:0], 0
			}
		}
		group = append(group, ref)
		groupBytes += ref.length
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(group) > 0 {
		return s.readChunks(group, each)
	}
	return nil
}

// readChunks reads the frames of refs, consecutive in one segment, with
// one pread, checks them against the index and their CRCs, and calls fn
// with each chunk's events until it returns false. A frame that does not
// match is corruption, reported with its file and position.
func (s *Store) readChunks(refs []chunkRef, fn func([]sluice.Event) bool) error {
	base, end := refs[0].offset, refs[len(refs)-1].offset+refs[len(refs)-1].length
	b, err := s.segs.read(refs[0].segment, base, end-base)
	if err != nil {
		return fmt.Errorf("chunk at %d: %w", refs[0].first, err)
	}
	for _, ref := range refs {
		evs, err := decodeFrame(b[ref.offset-base:][:ref.length], ref)
		if err != nil {
			return fmt.Errorf("segment file %s, offset %d, chunk at %d: %w", segmentName(ref.segment), ref.offset, ref.first, err)
		}
		if !fn(evs) {
			return nil
		}
	}
	return nil
}

// decodeFrame decodes the frame b, which the index says holds ref.
func decodeFrame(b []byte, ref chunkRef) ([]sluice.Event, error) {
	first, payload, length, err := readFrame(b)
	if err != nil {
		return nil, err
	}
	if first != ref.first || length != ref.length {
		return nil, fmt.Errorf("%w: the frame holds position %d, %d bytes", errBadChunk, first, length)
	}
	evs, err := decodeChunk(payload, first)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[len(evs)-1].Position != ref.last {
		return nil, fmt.Errorf("%w: %d events, the index says %d", errBadChunk, len(evs), ref.last-ref.first+1)
	}
	return evs, nil
}

// readRoom is how many events a read makes room for before it knows how
// many it finds: a live reader gets a few at a time, and room for a page of
// 1,000 (168 KB) at every call was three quarters of what the server
// allocated with one subscriber following 10,000 events/s.
const readRoom = 32

// ReadLog returns events after a position that the filter keeps; see
// sluice.Log.
func (s *Store) ReadLog(ctx context.Context, after sluice.Position, f sluice.Filter, limit int) ([]sluice.Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := sluice.GoneBefore(after, s.firstPosition()); err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	limit = max(limit, 1)
	out := make([]sluice.Event, 0, min(limit, readRoom))
	err := s.scanChunks(ctx, &s.reads, after, func(e *sluice.Event) bool {
		if f.Match(e) {
			out = append(out, *e)
		}
		return len(out) < limit
	})
	if err != nil {
		return nil, fmt.Errorf("read log: %w", s.goneOr(after, err))
	}
	return out, nil
}

// ReadStream returns events of one stream; see sluice.Log.
func (s *Store) ReadStream(ctx context.Context, name string, opts sluice.ReadStreamOptions) ([]sluice.Event, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	var id int64
	err := s.reads.QueryRowContext(ctx, "SELECT stream_id FROM streams WHERE name = ?", name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, sluice.ErrStreamNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	limit := max(opts.Limit, 1)
	from := int64(max(opts.FromVersion, 1))
	// Runs are found by their first version: the run holding from starts at
	// or before it.
	q := `SELECT first_version, last_version, chunk FROM stream_runs WHERE stream_id = ?1
		AND first_version >= coalesce((SELECT max(first_version) FROM stream_runs WHERE stream_id = ?1 AND first_version <= ?2), 0)
		ORDER BY first_version LIMIT ?3`
	if opts.Backward {
		if opts.FromVersion == 0 {
			from = math.MaxInt64
		}
		q = "SELECT first_version, last_version, chunk FROM stream_runs WHERE stream_id = ?1 AND first_version <= ?2 ORDER BY first_version DESC LIMIT ?3"
	}
	type run struct {
		first, last uint64
		chunk       sluice.Position
	}
	var runs []run
	rows, err := s.reads.QueryContext(ctx, q, id, from, limit)
	if err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	for rows.Next() {
		var r run
		if err := rows.Scan(&r.first, &r.last, &r.chunk); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read stream: %w", err)
		}
		runs = append(runs, r)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read stream: %w", err)
	}
	out := make([]sluice.Event, 0, min(limit, readRoom))
	for _, r := range runs {
		if r.chunk < s.firstPosition() {
			continue // removed by retention since the runs were read
		}
		evs, err := s.chunkAt(ctx, &s.reads, r.chunk)
		if err != nil && r.chunk < s.firstPosition() {
			continue // removed while being read
		}
		if err != nil {
			return nil, fmt.Errorf("read stream: %w", err)
		}
		for i := range evs {
			j := i
			if opts.Backward {
				j = len(evs) - 1 - i
			}
			e := &evs[j]
			inRange := uint64(from) <= e.Version
			if opts.Backward {
				inRange = e.Version <= uint64(from)
			}
			if e.Stream == name && inRange && len(out) < limit {
				out = append(out, *e)
			}
		}
	}
	return out, nil
}

// prefixEnd follows every string that starts with a prefix p: p+prefixEnd
// bounds the range of names with that prefix. SQLite compares text byte by
// byte, and 0xff never occurs in UTF-8. (LIKE would fold ASCII case.)
const prefixEnd = "\xff"

// ListStreams returns streams by name; see sluice.Log.
func (s *Store) ListStreams(ctx context.Context, prefix, after string, limit int) ([]sluice.StreamInfo, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.reads.QueryContext(ctx,
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
