package sqlite_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
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
// a batch of 3, most ids are found in id_index, some in memory, and the
// in-memory part is rebuilt from the log at open.
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
	var ids []string
	for i := range 10 {
		e := storetest.BenchEvent(i)
		ids = append(ids, e.ID)
		if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: []sluice.Event{e}}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *sqlite.Store) {
		t.Helper()
		for i, id := range ids {
			res, err := s.Append(ctx, []sluice.AppendRequest{{Events: []sluice.Event{{ID: id, Type: "page.viewed", Data: []byte(`{}`)}}}})
			if err != nil {
				t.Fatal(err)
			}
			if a := res[0].Events[0]; !a.Duplicate || a.Position != sluice.Position(i+1) {
				t.Fatalf("id %d: %+v, want a duplicate of position %d", i, a, i+1)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Close()
	check(s)
	if h, _ := s.Head(ctx); h != 10 {
		t.Fatalf("head %d, want 10: no duplicate may be stored", h)
	}
}
