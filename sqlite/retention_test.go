package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
	"github.com/sluicehq/sluice/storetest"
)

// segmentBytes is the number and size of the segment files in dir.
func segmentBytes(t *testing.T, dir string) (int, int64) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "segments"))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	return len(entries), total
}

// TestStore_Retention: whole segment files go once the archive has
// delivered them, the disk shrinks, and the edge stays where it is across
// a reopen.
func TestStore_Retention(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *sqlite.Store {
		s, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, SegmentSize: 32 << 10, IDIndexBatch: 300})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	var files int
	var bytes int64
	t.Cleanup(func() { s.Close() })
	first := storetest.RunRetention(t, s, 500, 100)
	if first < 1000 {
		t.Errorf("the log starts at %d: fewer segments went than the archive allowed", first)
	}
	if err := s.Close(); err != nil { // Close cuts the zeros written ahead
		t.Fatal(err)
	}
	files, bytes = segmentBytes(t, dir)
	if files != 1 || bytes > 32<<10+16<<10 {
		t.Errorf("%d segment files of %d bytes after the trim, want the last one only", files, bytes)
	}
	s = open()
	got, err := s.FirstPosition(ctx)
	if err != nil || got != first {
		t.Fatalf("reopened: first position %d, %v, want %d", got, err, first)
	}
	if _, err := s.ReadLog(ctx, 0, sluice.Filter{}, 1); !errors.Is(err, sluice.ErrGone) {
		t.Fatalf("reopened: ReadLog after 0: %v, want gone", err)
	}
	res, err := s.Append(ctx, []sluice.AppendRequest{{Events: []sluice.Event{{ID: "ret-0", Type: "retained", Data: []byte(`{}`)}}}})
	if err != nil || !res[0].Events[0].Duplicate {
		t.Fatalf("reopened: the young ret-0 again: %+v, %v, want a duplicate", res, err)
	}
}
