package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
)

var _ sluice.Retainer = (*Store)(nil)

// trimStep is how many positions one transaction of Trim removes from the
// index: each takes the writer's lock, so a commit waits for one step at
// most (D125).
const trimStep = 4096

// FirstPosition is the first position the log holds; see sluice.Retainer.
func (s *Store) FirstPosition(ctx context.Context) (sluice.Position, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	return s.firstPosition(), nil
}

func (s *Store) firstPosition() sluice.Position { return sluice.Position(s.first.Load()) }

// loadFirst sets the first position from the index, and removes the
// segment files before it that a Trim interrupted by a crash left.
func (s *Store) loadFirst(ctx context.Context) error {
	var first int64
	if err := s.wc.QueryRowContext(ctx, "SELECT coalesce((SELECT first_position FROM chunks ORDER BY last_position LIMIT 1), ?)", int64(s.head)+1).Scan(&first); err != nil {
		return err
	}
	s.first.Store(uint64(first))
	return s.removeSegmentsBefore(sluice.Position(first))
}

// removeSegmentsBefore removes the segment files whose every position is
// before first: those the next segment starts at or before first. The last
// segment is never removed.
func (s *Store) removeSegmentsBefore(first sluice.Position) error {
	firsts := s.segs.firsts()
	for i := 0; i+1 < len(firsts) && firsts[i+1] <= first; i++ {
		if err := s.segs.remove(firsts[i]); err != nil {
			return fmt.Errorf("remove segment %s: %w", segmentName(firsts[i]), err)
		}
	}
	return syncDir(s.segs.dir)
}

// RetentionCut returns where whole segment files could go by age and size;
// see sluice.Retainer. The last segment, being written, never goes.
func (s *Store) RetentionCut(ctx context.Context, olderThan time.Time, maxBytes int64) (sluice.Position, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	firsts := s.segs.firsts()
	sizes := make([]int64, len(firsts))
	var total int64
	for i, f := range firsts {
		size, err := s.segs.size(f)
		if err != nil {
			return 0, fmt.Errorf("retention cut: %w", err)
		}
		sizes[i], total = size, total+size
	}
	cut := s.firstPosition()
	for i := 0; i+1 < len(firsts); i++ {
		bySize := maxBytes > 0 && total > maxBytes
		byAge := false
		if !bySize && !olderThan.IsZero() {
			last, err := s.lastRecordedAt(ctx, firsts[i+1])
			if err != nil {
				return 0, fmt.Errorf("retention cut: %w", err)
			}
			byAge = last.Before(olderThan)
		}
		if !bySize && !byAge {
			break
		}
		cut, total = max(cut, firsts[i+1]), total-sizes[i]
	}
	return cut, nil
}

// lastRecordedAt is the commit time of the last event before position
// next: the last of its chunk.
func (s *Store) lastRecordedAt(ctx context.Context, next sluice.Position) (time.Time, error) {
	evs, err := s.chunkAt(ctx, &s.reads, next-1)
	if err != nil {
		return time.Time{}, err
	}
	return evs[len(evs)-1].RecordedAt, nil
}

// Trim removes the segment files whose every position is before before;
// see sluice.Retainer. The first position moves first (readers of what
// goes get a *sluice.GoneError from then on, and the dedupe no longer
// finds its ids), then the index rows go in transactions of trimStep
// positions, each under the writer's lock for a moment, the last one
// fsync'd, and then the file. A crash in between leaves rows of a
// segment that is still there, or a file Open removes (loadFirst).
func (s *Store) Trim(ctx context.Context, before sluice.Position) (sluice.Position, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	s.trimMu.Lock()
	defer s.trimMu.Unlock()
	firsts := s.segs.firsts()
	for i := 0; i+1 < len(firsts) && firsts[i+1] <= before; i++ {
		next := firsts[i+1]
		if next > s.firstPosition() {
			s.first.Store(uint64(next))
		}
		if err := s.trimIndex(ctx, next); err != nil {
			return s.firstPosition(), fmt.Errorf("trim: %w", err)
		}
		if err := s.removeSegmentsBefore(next); err != nil {
			return s.firstPosition(), fmt.Errorf("trim: %w", err)
		}
	}
	return s.firstPosition(), nil
}

// trimIndex deletes the index rows of the chunks before position next.
func (s *Store) trimIndex(ctx context.Context, next sluice.Position) error {
	for {
		done, err := s.trimIndexStep(ctx, next)
		if err != nil || done {
			return err
		}
		// Let a commit waiting for the lock take it before the next step
		// (sync.Mutex lets a goroutine that just unlocked take it again).
		runtime.Gosched()
	}
}

// trimIndexStep deletes the rows of up to trimStep positions of the chunks
// before next, and says whether none are left. The last step is fsync'd
// (inTx at FULL), so the file can go after it.
func (s *Store) trimIndexStep(ctx context.Context, next sluice.Position) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return false, sluice.ErrClosed
	}
	// The chunks from the first up to trimStep positions past its end (at
	// least the first), ranges of the primary key.
	var through int64
	err := s.wc.QueryRowContext(ctx, "SELECT coalesce(max(last_position), 0) FROM chunks WHERE last_position < ? AND last_position <= (SELECT last_position FROM chunks ORDER BY last_position LIMIT 1) + ?",
		int64(next), trimStep).Scan(&through)
	if err != nil {
		return false, err
	}
	if through == 0 {
		return true, nil
	}
	last := through+1 >= int64(next)
	del := func(tx *sql.Conn) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM stream_runs WHERE chunk <= ?", through); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM chunks WHERE last_position <= ?", through)
		return err
	}
	if last {
		err = s.inTx(ctx, del)
	} else {
		err = s.logTx(ctx, del)
	}
	if err != nil {
		return false, unavailable("trim index", err)
	}
	return last, nil
}

// firsts are the first positions of the segment files, in order.
func (sg *segments) firsts() []sluice.Position {
	sg.mu.RLock()
	defer sg.mu.RUnlock()
	out := make([]sluice.Position, 0, len(sg.files))
	for f := range sg.files {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// goneOr returns a *sluice.GoneError in place of err when the read after
// position after failed because retention removed what it was reading (a
// segment file removed under it).
func (s *Store) goneOr(after sluice.Position, err error) error {
	if gone := sluice.GoneBefore(after, s.firstPosition()); gone != nil {
		return gone
	}
	return err
}
