package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// idHash is the key of the dedupe index: 64 bits of FNV-1a of the id. A
// match is confirmed by comparing the stored id, so a collision costs a
// read, never a lost or refused event.
func idHash(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int64(h.Sum64())
}

// idIndex finds events by id. Ids of events up to through are in the
// id_index table; the ids after it are in recent, which is written to the
// table in one sorted batch once it holds flushAt entries. Writing random
// ids one commit at a time would dirty an index page per event (about 2 MB
// of WAL per 500-event commit); a sorted batch of 100,000 dirties each page
// once.
type idIndex struct {
	through sluice.Position
	recent  map[int64]sluice.Position
	flushAt int
}

// loadIDs reads where the on-disk index ends and rebuilds recent from the
// events after it.
func (s *Store) loadIDs(ctx context.Context) error {
	s.ids.recent = map[int64]sluice.Position{}
	if err := s.wc.QueryRowContext(ctx, "SELECT indexed_through FROM id_index_state").Scan(&s.ids.through); err != nil {
		return fmt.Errorf("load id index: %w", err)
	}
	collided := false
	err := s.scanChunks(ctx, s.wc, s.ids.through, func(e *sluice.Event) bool {
		h := idHash(e.ID)
		_, dup := s.ids.recent[h]
		collided = collided || dup
		s.ids.recent[h] = e.Position
		return true
	})
	if err != nil {
		return fmt.Errorf("load id index: %w", err)
	}
	if collided { // two recent ids share a hash: the map cannot hold both
		return s.flushIDsNow(ctx)
	}
	return nil
}

// lookupIDs adds to c.Stored the stored events whose ids the commit carries.
func (s *Store) lookupIDs(ctx context.Context, tx *sql.Conn, c *commit, hashes []int64) error {
	var candidates []sluice.Position
	for _, h := range hashes {
		if p, ok := s.ids.recent[h]; ok {
			candidates = append(candidates, p)
		}
	}
	err := s.queryEach(ctx, tx, "SELECT position FROM id_index WHERE hash IN (SELECT value FROM json_each(?))", jsonInts(hashes), func(rows *sql.Rows) error {
		var p sluice.Position
		err := rows.Scan(&p)
		candidates = append(candidates, p)
		return err
	})
	if err != nil {
		return err
	}
	// Candidates are the duplicates (and, once in a long while, a hash
	// collision): read their chunks, each once, to compare the ids.
	slices.Sort(candidates)
	for len(candidates) > 0 {
		evs, err := chunkAt(ctx, tx, candidates[0])
		if err != nil {
			return err
		}
		if candidates[0] < evs[0].Position {
			return fmt.Errorf("id index names position %d: %w", candidates[0], errBadChunk)
		}
		last := evs[len(evs)-1].Position
		for len(candidates) > 0 && candidates[0] <= last {
			e := &evs[candidates[0]-evs[0].Position]
			c.Stored[e.ID] = sluice.Appended{ID: e.ID, Position: e.Position, Version: e.Version}
			candidates = candidates[1:]
		}
	}
	return nil
}

// needsFlush reports whether the commit must write the index: recent is
// full, or one of the commit's ids shares a hash with a recent one (or
// another of the commit's), which the map cannot hold.
func (s *Store) needsFlush(c *commit) bool {
	if len(s.ids.recent)+len(c.Events) >= s.ids.flushAt {
		return true
	}
	seen := make(map[int64]bool, len(c.Events))
	for i := range c.Events {
		h := idHash(c.Events[i].ID)
		if _, ok := s.ids.recent[h]; ok || seen[h] {
			return true
		}
		seen[h] = true
	}
	return false
}

// flushIDs writes recent and the commit's ids to id_index, in tx.
func (s *Store) flushIDs(ctx context.Context, tx *sql.Conn, c *commit) error {
	pairs := make([][2]int64, 0, len(s.ids.recent)+len(c.Events))
	for h, p := range s.ids.recent {
		pairs = append(pairs, [2]int64{h, int64(p)})
	}
	for i := range c.Events {
		e := &c.Events[i]
		pairs = append(pairs, [2]int64{idHash(e.ID), int64(e.Position)})
	}
	slices.SortFunc(pairs, func(a, b [2]int64) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	})
	err := s.insertRows(ctx, tx, "INSERT INTO id_index (hash, position) VALUES ", "", 2, len(pairs), func(i int, args []any) []any {
		return append(args, pairs[i][0], pairs[i][1])
	})
	if err != nil {
		return fmt.Errorf("write id index: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE id_index_state SET indexed_through = ?", int64(c.Head)); err != nil {
		return fmt.Errorf("write id index: %w", err)
	}
	return nil
}

// flushIDsNow writes recent to id_index in a transaction of its own.
func (s *Store) flushIDsNow(ctx context.Context) error {
	c := &commit{CommitPlan: sluice.NewCommitPlan(s.head, time.Time{})}
	err := s.inTx(ctx, func(tx *sql.Conn) error { return s.flushIDs(ctx, tx, c) })
	if err != nil {
		return err
	}
	s.committed(c, true)
	return nil
}

// committed updates the in-memory part after a successful commit.
func (s *Store) committed(c *commit, flushed bool) {
	if flushed {
		s.ids.through, s.ids.recent = c.Head, map[int64]sluice.Position{}
		return
	}
	for i := range c.Events {
		s.ids.recent[idHash(c.Events[i].ID)] = c.Events[i].Position
	}
}

// jsonInts is a JSON array of the numbers, for json_each.
func jsonInts(xs []int64) string {
	b := make([]byte, 0, len(xs)*21+2)
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return string(append(b, ']'))
}
