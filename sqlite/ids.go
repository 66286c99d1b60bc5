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
// id_index table; the later ones are in memory. Writing random ids one
// commit at a time would dirty an index page per event (about 2 MB of WAL
// per 500-event commit), so they are written in sorted batches: once recent
// holds flushAt ids it is frozen (sorted by hash), and each following commit
// writes the next slice of the frozen batch, so that no single commit pays
// for the whole batch (on a log of millions of events, rewriting most of
// the index's pages at once stalled ingest for a quarter of a second).
type idIndex struct {
	through sluice.Position
	// frozen is the batch being written, sorted by hash; frozen[:written]
	// is in id_index already. It holds the ids of the events after through
	// up to frozenThrough.
	frozen        []idEntry
	written       int
	frozenThrough sluice.Position
	// recent holds the ids of the events after frozenThrough (after through
	// when nothing is frozen).
	recent  map[int64]sluice.Position
	flushAt int
}

// idEntry is a row of id_index.
type idEntry struct {
	hash     int64
	position sluice.Position
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
	frozen := s.ids.frozen
	for _, h := range hashes {
		if p, ok := s.ids.recent[h]; ok {
			candidates = append(candidates, p)
		}
		i, _ := slices.BinarySearchFunc(frozen, h, func(e idEntry, h int64) int { return cmp.Compare(e.hash, h) })
		for ; i < len(frozen) && frozen[i].hash == h; i++ {
			candidates = append(candidates, frozen[i].position)
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
		evs, err := s.chunkAt(ctx, tx, candidates[0])
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

// idWrite is what a commit wrote to id_index: everything in memory (a full
// flush), or the next n entries of the frozen batch.
type idWrite struct {
	full bool
	n    int
}

// writeIDs writes the commit's share of the index, in tx: the next slice of
// the frozen batch, large enough that the batch is written before recent
// fills again; or, when one of the commit's ids shares a hash with a recent
// one (or another of the commit's), which the map cannot hold, everything.
func (s *Store) writeIDs(ctx context.Context, tx *sql.Conn, c *commit) (idWrite, error) {
	if s.hashClash(c) {
		return idWrite{full: true}, s.flushIDs(ctx, tx, c)
	}
	rest := s.ids.frozen[s.ids.written:]
	if len(rest) == 0 {
		return idWrite{}, nil
	}
	n := min(len(rest), max(len(s.ids.frozen)/16, 2*len(c.Events), 1))
	if err := s.insertIDs(ctx, tx, rest[:n]); err != nil {
		return idWrite{}, err
	}
	if n == len(rest) {
		if err := s.setIndexedThrough(ctx, tx, s.ids.frozenThrough); err != nil {
			return idWrite{}, err
		}
	}
	return idWrite{n: n}, nil
}

// hashClash reports whether one of the commit's ids shares a hash with a
// recent one or another of the commit's.
func (s *Store) hashClash(c *commit) bool {
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

// flushIDs writes everything in memory and the commit's ids to id_index, in
// tx.
func (s *Store) flushIDs(ctx context.Context, tx *sql.Conn, c *commit) error {
	entries := slices.Clone(s.ids.frozen[s.ids.written:])
	for h, p := range s.ids.recent {
		entries = append(entries, idEntry{h, p})
	}
	for i := range c.Events {
		entries = append(entries, idEntry{idHash(c.Events[i].ID), c.Events[i].Position})
	}
	sortIDs(entries)
	if err := s.insertIDs(ctx, tx, entries); err != nil {
		return err
	}
	return s.setIndexedThrough(ctx, tx, c.Head)
}

// insertIDs writes entries, sorted by hash, to id_index. An entry may be
// there already: after a restart, the events after indexed_through are
// indexed again, some of which a partly written batch had written.
func (s *Store) insertIDs(ctx context.Context, tx *sql.Conn, entries []idEntry) error {
	err := s.insertRows(ctx, tx, "INSERT OR IGNORE INTO id_index (hash, position) VALUES ", "", 2, len(entries), func(i int, args []any) []any {
		return append(args, entries[i].hash, int64(entries[i].position))
	})
	if err != nil {
		return fmt.Errorf("write id index: %w", err)
	}
	return nil
}

func (s *Store) setIndexedThrough(ctx context.Context, tx *sql.Conn, p sluice.Position) error {
	if _, err := tx.ExecContext(ctx, "UPDATE id_index_state SET indexed_through = ?", int64(p)); err != nil {
		return fmt.Errorf("write id index: %w", err)
	}
	return nil
}

func sortIDs(entries []idEntry) {
	slices.SortFunc(entries, func(a, b idEntry) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.position, b.position))
	})
}

// flushIDsNow writes everything in memory to id_index in a transaction of
// its own.
func (s *Store) flushIDsNow(ctx context.Context) error {
	c := &commit{CommitPlan: sluice.NewCommitPlan(s.head, time.Time{})}
	err := s.inTx(ctx, func(tx *sql.Conn) error { return s.flushIDs(ctx, tx, c) })
	if err != nil {
		return err
	}
	s.committed(c, idWrite{full: true})
	return nil
}

// committed updates the in-memory part after a successful commit: what
// was written leaves memory, the commit's ids join recent, and a full
// recent is frozen for the next commits to write.
func (s *Store) committed(c *commit, w idWrite) {
	ids := &s.ids
	if w.full {
		ids.through, ids.recent = c.Head, map[int64]sluice.Position{}
		ids.frozen, ids.written = nil, 0
		return
	}
	if ids.written += w.n; len(ids.frozen) > 0 && ids.written == len(ids.frozen) {
		ids.through, ids.frozen, ids.written = ids.frozenThrough, nil, 0
	}
	for i := range c.Events {
		ids.recent[idHash(c.Events[i].ID)] = c.Events[i].Position
	}
	if len(ids.frozen) == 0 && len(ids.recent) >= ids.flushAt {
		ids.frozen = make([]idEntry, 0, len(ids.recent))
		for h, p := range ids.recent {
			ids.frozen = append(ids.frozen, idEntry{h, p})
		}
		sortIDs(ids.frozen)
		ids.frozenThrough, ids.recent = c.Head, map[int64]sluice.Position{}
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
