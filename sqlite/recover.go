package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
)

// recover brings the index up to the segment files at Open. A commit's
// frames are durable before its index transaction, which runs at
// synchronous=NORMAL, so an operating-system crash can leave whole frames
// that the index lacks, and a crash in the middle of a write a torn frame
// at the end. recover:
//
//   - checks that no segment file is shorter than the index says: that is
//     corruption (or a file from another log), and Open refuses it;
//   - from the end of the last chunk the index knows, indexes every whole
//     frame with a good CRC that continues the log (its chunk, stream runs
//     and streams' versions, in one durable transaction; the id index
//     rebuilds itself from the chunks after its own mark, in loadIDs);
//   - at the first torn or bad frame, truncates the file there and removes
//     any later segment file.
//
// firsts are the segment files' first positions, in order. s.head and
// s.nextStreamID are the index's on entry, the log's on return.
func (s *Store) recover(ctx context.Context, firsts []sluice.Position) error {
	if len(firsts) == 0 {
		if s.head > 0 {
			return fmt.Errorf("the index holds positions 1–%d, but there are no segment files in %s", s.head, s.segs.dir)
		}
		return nil
	}
	if err := s.checkSegments(ctx, firsts); err != nil {
		return err
	}
	i, off := 0, int64(0) // where the frames the index lacks start
	if s.head > 0 {
		last, err := scanRef(s.wc.QueryRowContext(ctx, "SELECT "+chunkColumns+" FROM chunks ORDER BY last_position DESC LIMIT 1"))
		if err != nil {
			return err
		}
		var found bool
		if i, found = slices.BinarySearch(firsts, last.segment); !found {
			return fmt.Errorf("the index puts position %d in segment file %s, which is missing from %s", last.last, segmentName(last.segment), s.segs.dir)
		}
		off = last.offset + last.length
	}
	var chunks, events int
	cut := -1 // the segment with the first frame not to keep, cut at off
	err := s.inTx(ctx, func(tx *sql.Conn) error {
		for ; i < len(firsts); i, off = i+1, 0 {
			for {
				ref, evs, err := s.nextFrame(firsts[i], off)
				if corrupt(err) {
					cut = i
					return nil
				}
				if err != nil {
					return err
				}
				if evs == nil {
					break // the end of the file
				}
				if err := s.indexRecovered(ctx, tx, ref, evs); err != nil {
					return err
				}
				chunks, events, off = chunks+1, events+len(evs), off+ref.length
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover the index from the segment files: %w", err)
	}
	if chunks > 0 {
		s.log.Info("indexed the log's last events again from its segment files", "chunks", chunks, "events", events, "head", s.head)
	}
	if cut < 0 {
		return nil
	}
	return s.cutTail(firsts, cut, off)
}

// checkSegments refuses segment files shorter than the index says: the
// last chunk indexed before the next file's first position must end
// within its file.
func (s *Store) checkSegments(ctx context.Context, firsts []sluice.Position) error {
	for i, first := range firsts {
		next := sluice.Position(math.MaxInt64)
		if i+1 < len(firsts) {
			next = firsts[i+1]
		}
		ref, err := scanRef(s.wc.QueryRowContext(ctx, "SELECT "+chunkColumns+" FROM chunks WHERE last_position < ? ORDER BY last_position DESC LIMIT 1", int64(next)))
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return err
		}
		if ref.segment != first {
			continue
		}
		size, err := s.segs.size(first)
		if err != nil {
			return err
		}
		if end := ref.offset + ref.length; end > size {
			return fmt.Errorf("corrupt log: segment file %s/%s is %d bytes long, but the index puts positions %d–%d at bytes %d–%d",
				s.segs.dir, segmentName(first), size, ref.first, ref.last, ref.offset, end)
		}
	}
	return nil
}

// nextFrame reads the frame at offset off of the segment that starts at
// first and checks that it continues the log (s.head). It returns no
// events at the end of the file, and an error for a torn or bad frame.
func (s *Store) nextFrame(first sluice.Position, off int64) (chunkRef, []sluice.Event, error) {
	size, err := s.segs.size(first)
	if err != nil || off >= size {
		return chunkRef{}, nil, err
	}
	header, err := s.segs.read(first, off, min(frameHeader, size-off))
	if err != nil {
		return chunkRef{}, nil, err
	}
	length, err := frameLength(header)
	if err != nil {
		return chunkRef{}, nil, err
	}
	if off+length > size {
		return chunkRef{}, nil, errTornFrame
	}
	b, err := s.segs.read(first, off, length)
	if err != nil {
		return chunkRef{}, nil, err
	}
	pos, payload, _, err := readFrame(b)
	if err != nil {
		return chunkRef{}, nil, err
	}
	if pos != s.head+1 {
		return chunkRef{}, nil, fmt.Errorf("%w: position %d after %d", errBadChunk, pos, s.head)
	}
	evs, err := decodeChunk(payload, pos)
	if err != nil {
		return chunkRef{}, nil, err
	}
	if len(evs) == 0 {
		return chunkRef{}, nil, errBadChunk
	}
	return chunkRef{first: pos, last: evs[len(evs)-1].Position, segment: first, offset: off, length: length}, evs, nil
}

// indexRecovered indexes the chunk at ref, whose events are evs, in tx, as
// the commit that wrote it would have, and moves s.head past it.
func (s *Store) indexRecovered(ctx context.Context, tx *sql.Conn, ref chunkRef, evs []sluice.Event) error {
	c := &commit{CommitPlan: sluice.NewCommitPlan(s.head, time.Time{}), streamIDs: map[string]int64{}, nextID: s.nextStreamID}
	var names []string
	for i := range evs {
		e := &evs[i]
		if _, ok := c.Streams[e.Stream]; !ok {
			names = append(names, e.Stream)
		}
		c.Streams[e.Stream] = sluice.StreamInfo{Stream: e.Stream, Version: e.Version, LastPosition: e.Position}
	}
	if err := s.loadStreams(ctx, tx, c, names); err != nil {
		return err
	}
	c.Events = evs
	if err := s.index(ctx, tx, c, []chunkRef{ref}); err != nil {
		return err
	}
	s.head, s.nextStreamID = ref.last, c.nextID
	return nil
}

// corrupt reports whether err says that bytes of a segment file are not a
// frame that continues the log (rather than that they could not be read).
func corrupt(err error) bool {
	return errors.Is(err, errTornFrame) || errors.Is(err, errBadFrame) || errors.Is(err, errBadChunk)
}

// cutTail truncates segment firsts[i] at off, where a torn or bad frame
// starts, and removes the segment files after it.
func (s *Store) cutTail(firsts []sluice.Position, i int, off int64) error {
	for _, first := range firsts[i+1:] {
		if err := s.segs.remove(first); err != nil {
			return fmt.Errorf("remove segment file after a torn frame: %w", err)
		}
	}
	if err := syncDir(s.segs.dir); err != nil {
		return err
	}
	if err := s.segs.resume(firsts[i]); err != nil {
		return err
	}
	s.log.Warn("cut the end of a segment file after its last whole frame (zeros written ahead, a write torn by a crash, or corruption)", "file", segmentName(firsts[i]), "offset", off, "bytes", s.segs.end-off, "head", s.head)
	if err := s.segs.cut(off); err != nil {
		return fmt.Errorf("cut the torn end of segment file %s: %w", segmentName(firsts[i]), err)
	}
	return nil
}
