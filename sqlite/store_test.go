package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sqlite"
	"github.com/sluicehq/sluice/storetest"
)

// newLog makes an empty log in a temporary directory.
func newLog(tb testing.TB) storetest.Opener {
	dir := tb.TempDir()
	return func(tb testing.TB) sluice.Store {
		tb.Helper()
		s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}
}

func TestStore(t *testing.T) {
	storetest.Run(t, newLog, storetest.Features{})
}

// TestStore_IDIndex drives the dedupe index through its on-disk part: with
// a batch of 3, ids are found in id_index, in a frozen batch being written
// a slice per commit, and in memory; the store is reopened at every stage
// (a batch half written included), and the in-memory part is rebuilt from
// the log.
func TestStore_IDIndex(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *sqlite.Store {
		t.Helper()
		s, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, IDIndexBatch: 3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	// appendOne appends e, and every fourth time closes and reopens the
	// store: whatever state the index is in then (a frozen batch half
	// written included), it must survive.
	appends := 0
	appendOne := func(e sluice.Event) sluice.Appended {
		t.Helper()
		res, err := s.Append(ctx, []sluice.AppendRequest{{Events: []sluice.Event{e}}})
		if err != nil {
			t.Fatal(err)
		}
		if appends++; appends%4 != 0 {
			return res[0].Events[0]
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = open()
		return res[0].Events[0]
	}
	var ids []string
	for i := range 14 {
		e := storetest.BenchEvent(i)
		ids = append(ids, e.ID)
		appendOne(e)
		// Every id again: each must be a duplicate of its event.
		for j, id := range ids {
			if a := appendOne(sluice.Event{ID: id, Type: "page.viewed", Data: []byte(`{}`)}); !a.Duplicate || a.Position != sluice.Position(j+1) {
				t.Fatalf("id %d of %d: %+v, want a duplicate of position %d", j, len(ids), a, j+1)
			}
		}
	}
	defer s.Close()
	if h, _ := s.Head(ctx); h != 14 {
		t.Fatalf("head %d, want 14: no duplicate may be stored", h)
	}
}

// TestStore_Checkpoints: commits only append to the WAL; the checkpointer
// copies the pages into the database file in the background, and Close
// leaves an empty WAL. (The database holds the index only: 200 commits of
// 50 events in 50 streams make 10,000 stream runs, a few hundred KB.)
func TestStore_Checkpoints(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	size := func(name string) int64 {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	before := size("sluice.db")
	for i := range 200 {
		evs := make([]sluice.Event, 50)
		for j := range evs {
			evs[j] = storetest.BenchEvent(i*50 + j)
		}
		if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: evs}}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return size("sluice.db") > before+128<<10 },
		"the database file did not grow by the index pages the WAL holds")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := size("sluice.db-wal"); n != 0 {
		t.Fatalf("after Close the WAL holds %d bytes", n)
	}
}
