package jetstream

import (
	"context"
	"time"

	"github.com/sluicehq/sluice"
)

// indexBacklog bounds the commits whose ids the indexer has not written
// yet: a commit past it waits for a place, so the index never lags far
// and a lookup's catch-up stays short.
const indexBacklog = 16

// indexMaxJoin bounds the commits the indexer writes as one run of
// asynchronous publishes.
const indexMaxJoin = 8

// flushTimeout bounds how long Close waits for the indexer to write what
// it holds; what it leaves is indexed from the log before the next
// lookup (catchUpIndex).
const flushTimeout = 2 * time.Second

// idEntry is one id index entry: an event's id, position and version.
type idEntry struct {
	id       string
	position sluice.Position
	version  uint64
}

// indexJob is one commit's ids, stored after position base; a job without
// entries is a flush, whose done is closed once every job before it is
// written.
type indexJob struct {
	base    sluice.Position
	entries []idEntry
	done    chan struct{}
}

// indexer writes the id index behind this process's commits, so that a
// commit does not wait for its index entries (D167): one goroutine writes
// the jobs in commit order, several commits' entries in one run of
// asynchronous publishes, and moves the watermark over them when it was
// where they start.
type indexer struct {
	s    *Store
	jobs chan indexJob
	quit chan struct{} // closed once the goroutine has returned
}

func newIndexer(s *Store) *indexer {
	ix := &indexer{s: s, jobs: make(chan indexJob, indexBacklog), quit: make(chan struct{})}
	go ix.run()
	return ix
}

// add queues the ids of events, stored after position base, waiting while
// the backlog is full.
func (ix *indexer) add(ctx context.Context, base sluice.Position, events []sluice.Event) error {
	entries := make([]idEntry, len(events))
	for i := range events {
		e := &events[i]
		entries[i] = idEntry{id: e.ID, position: e.Position, version: e.Version}
	}
	return ix.send(ctx, indexJob{base: base, entries: entries})
}

// flush waits until every job queued before it is written (or given up).
func (ix *indexer) flush(ctx context.Context) error {
	done := make(chan struct{})
	if err := ix.send(ctx, indexJob{done: done}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ix *indexer) send(ctx context.Context, j indexJob) error {
	select {
	case ix.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-ix.quit:
		return sluice.ErrClosed
	}
}

// run writes jobs until the store is closed.
func (ix *indexer) run() {
	defer close(ix.quit)
	ctx := ix.s.done
	for {
		var j indexJob
		select {
		case j = <-ix.jobs:
		case <-ctx.Done():
			return
		}
		run := []indexJob{j}
	join:
		for len(run) < indexMaxJoin {
			select {
			case j := <-ix.jobs:
				run = append(run, j)
			default:
				break join
			}
		}
		ix.write(ctx, run)
	}
}

// write writes the entries of run, and closes its flushes' done.
func (ix *indexer) write(ctx context.Context, run []indexJob) {
	var entries []idEntry
	base, end := sluice.Position(0), sluice.Position(0)
	for _, j := range run {
		if len(j.entries) == 0 {
			continue
		}
		if end == 0 {
			base = j.base
		}
		if end != 0 && j.base != end {
			// Another process committed between two of ours: write what
			// is contiguous, then start again from here.
			ix.index(ctx, base, end, entries)
			entries, base = nil, j.base
		}
		entries = append(entries, j.entries...)
		end = j.entries[len(j.entries)-1].position
	}
	if len(entries) > 0 {
		ix.index(ctx, base, end, entries)
	}
	for _, j := range run {
		if j.done != nil {
			close(j.done)
		}
	}
}

// index writes entries, the ids stored from base+1 through end, and moves
// the watermark to end when it was at base. A failure is logged and left
// to catchUpIndex, which fills the gap before the next lookup.
func (ix *indexer) index(ctx context.Context, base, end sluice.Position, entries []idEntry) {
	s := ix.s
	err := s.putIDs(ctx, entries)
	if err == nil {
		var wm sluice.Position
		var rev uint64
		if wm, rev, err = s.indexed(ctx); err == nil && wm == base {
			err = s.moveIndexed(ctx, rev, end)
		}
	}
	if err != nil && ctx.Err() == nil {
		s.logger.Warn("jetstream: indexing event ids", "err", err)
	}
}
