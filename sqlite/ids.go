package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/bloom"
)

// idHash is the key of the dedupe index: 64 bits of FNV-1a of the id. A
// match is confirmed by comparing the stored id, so a collision costs a
// read, never a lost or refused event.
func idHash(id string) int64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return int64(h.Sum64())
}

// maxPending is how many frozen batches may wait for the flusher before a
// commit that would freeze another waits for it: the bound on the memory of
// the in-memory part (D91).
const maxPending = 2

// idIndex finds events by id. The ids of the events up to the mark of
// ids.db are there (idsdb.go), behind a Bloom filter that answers for every
// id that is new without reading the disk; the later ones are in memory,
// exactly: recent, a map, until it holds flushAt ids, then frozen into a
// sorted batch that waits in pending until the flusher has written it to
// ids.db in a transaction of its own, off the commit path. A batch leaves
// pending only after its transaction has committed and its hashes are in
// the filter, so at every moment each id is in memory, or on disk and in
// the filter, or both.
type idIndex struct {
	// recent holds the ids of the events after the last frozen batch (after
	// the mark when nothing is frozen). Only the writer (under Store.mu)
	// touches it.
	recent  map[int64]sluice.Position
	flushAt int

	// mu guards pending and the runs of db, between the writer and the
	// flusher; wake signals a change of pending (both ways).
	mu      sync.RWMutex
	wake    *sync.Cond
	pending []*idBatch
	// filter holds every hash of db's runs (and maybe others: a false
	// positive costs a lookup, never a wrong answer). It is replaced, never
	// changed in place, when the flusher grows it.
	filter atomic.Pointer[bloom.Filter]
	db     *idsDB
	// stalls counts the commits that waited for the flusher.
	stalls atomic.Int64
}

// idBatch is a frozen batch: the ids of the events after the previous
// batch up to through, sorted by hash.
type idBatch struct {
	entries []idEntry
	through sluice.Position
}

// idEntry is a row of the id index.
type idEntry struct {
	hash     int64
	position sluice.Position
}

// loadIDs rebuilds recent from the events after the mark of ids.db (a
// crash or Close leaves it behind the log), and starts the flusher.
func (s *Store) loadIDs(ctx context.Context) error {
	ids := &s.ids
	ids.recent = map[int64]sluice.Position{}
	ids.db.start()
	var full error
	err := s.scanChunks(ctx, s.wc, ids.db.through, func(e *sluice.Event) bool {
		ids.add(idHash(e.ID), e.Position)
		if len(ids.recent) >= ids.flushAt {
			if full = ids.waitRoom(); full != nil {
				return false
			}
			ids.freeze(e.Position)
		}
		return true
	})
	if err = cmp.Or(err, full); err != nil {
		return fmt.Errorf("load id index: %w", err)
	}
	return nil
}

// lookupIDs adds to c.Stored the stored events whose ids the commit carries.
// It is where a commit waits when the flusher has fallen maxPending batches
// behind, before it writes anything.
func (s *Store) lookupIDs(ctx context.Context, tx *sql.Conn, c *commit, hashes []int64) (err error) {
	candidates, err := s.ids.find(ctx, hashes)
	if err != nil {
		return err
	}
	defer func() {
		// The ids that are not duplicates join recent: when they fill it,
		// there must be room for the batch it becomes.
		if err == nil && len(s.ids.recent)+len(hashes)-len(c.Stored) >= s.ids.flushAt {
			err = s.ids.waitRoom()
		}
	}()
	// Candidates are the duplicates (and, once in a long while, a hash
	// collision): read their chunks, each once, to compare the ids. Those
	// before the first position were removed by retention: their ids are
	// new again.
	slices.Sort(candidates)
	first := s.firstPosition()
	for len(candidates) > 0 && candidates[0] < first {
		candidates = candidates[1:]
	}
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

// find returns the positions of the events whose hashes are among hashes:
// from recent, the pending batches, and, for the hashes the filter may
// hold, ids.db.
func (ids *idIndex) find(ctx context.Context, hashes []int64) ([]sluice.Position, error) {
	var candidates []sluice.Position
	var maybe []int64
	filter := ids.filter.Load()
	ids.mu.RLock() // pending and db's runs stay as they are
	defer ids.mu.RUnlock()
	for _, h := range hashes {
		if p, ok := ids.recent[h]; ok {
			candidates = append(candidates, p)
		}
		for _, b := range ids.pending {
			i, _ := slices.BinarySearchFunc(b.entries, h, func(e idEntry, h int64) int { return cmp.Compare(e.hash, h) })
			for ; i < len(b.entries) && b.entries[i].hash == h; i++ {
				candidates = append(candidates, b.entries[i].position)
			}
		}
		if filter.MayContain(uint64(h)) {
			maybe = append(maybe, h)
		}
	}
	if len(maybe) == 0 {
		return candidates, nil
	}
	found, err := ids.db.lookup(ctx, maybe)
	if err != nil {
		return nil, fmt.Errorf("look up ids: %w", err)
	}
	return append(candidates, found...), nil
}

// waitRoom waits until fewer than maxPending batches wait for the flusher,
// or the flusher fails: then the error, and the commit is refused as
// unavailable (it would otherwise grow memory without bound).
func (ids *idIndex) waitRoom() error {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if len(ids.pending) < maxPending {
		return nil
	}
	ids.stalls.Add(1)
	for len(ids.pending) >= maxPending {
		if err := ids.db.failed(); err != nil {
			return fmt.Errorf("write id index: %w", err)
		}
		ids.wake.Wait()
	}
	return nil
}

// committed adds the commit's ids to the in-memory part after the commit.
func (s *Store) committed(c *commit) {
	for i := range c.Events {
		s.ids.add(idHash(c.Events[i].ID), c.Events[i].Position)
	}
	s.ids.freezeIfFull(c.Head)
}

// add puts the id of the event at p in recent. When another recent id has
// the same hash, which the map cannot hold twice, recent is frozen first.
func (ids *idIndex) add(h int64, p sluice.Position) {
	if _, clash := ids.recent[h]; clash {
		ids.freeze(p - 1)
	}
	ids.recent[h] = p
}

// freezeIfFull freezes recent once it holds flushAt ids; head is the
// position of its last event.
func (ids *idIndex) freezeIfFull(head sluice.Position) {
	if len(ids.recent) >= ids.flushAt {
		ids.freeze(head)
	}
}

// freeze moves recent, the ids of the events up to through, into a sorted
// batch for the flusher.
func (ids *idIndex) freeze(through sluice.Position) {
	b := &idBatch{entries: make([]idEntry, 0, len(ids.recent)), through: through}
	for h, p := range ids.recent {
		b.entries = append(b.entries, idEntry{h, p})
	}
	slices.SortFunc(b.entries, func(a, b idEntry) int {
		return cmp.Or(cmp.Compare(a.hash, b.hash), cmp.Compare(a.position, b.position))
	})
	ids.mu.Lock()
	ids.pending = append(ids.pending, b)
	ids.mu.Unlock()
	ids.recent = map[int64]sluice.Position{}
	ids.db.kick()
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
