package sqlite

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/sluicehq/sluice"
)

// TestAppend_IndexFails: when the index transaction fails after the
// frames were written and synced, the segment is cut back, so that nothing
// of the failed Append survives a reopen; the next Append works.
func TestAppend_IndexFails(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *Store {
		s, err := Open(ctx, Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ev := func(id string) []sluice.AppendRequest {
		return []sluice.AppendRequest{{Events: []sluice.Event{{ID: id, Type: "t", Stream: "s", Data: []byte(`{}`)}}}}
	}
	s := open()
	if _, err := s.Append(ctx, ev("one")); err != nil {
		t.Fatal(err)
	}
	size := s.segs.end
	// A row in the way of the next chunk's: its index insert fails.
	if _, err := s.wc.ExecContext(ctx, "INSERT INTO chunks VALUES (2, 2, 1, 0, 0)"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, ev("two")); !errors.Is(err, sluice.ErrUnavailable) {
		t.Fatalf("append with a failing index: %v, want ErrUnavailable", err)
	}
	if got, _ := s.segs.size(s.segs.lastFirst); got != size || s.segs.end != size {
		t.Fatalf("segment of %d bytes (end %d) after the failed append, want %d", got, s.segs.end, size)
	}
	if _, err := s.wc.ExecContext(ctx, "DELETE FROM chunks WHERE frame_length = 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, ev("three")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open()
	defer s.Close()
	evs, err := s.ReadLog(ctx, 0, sluice.Filter{}, 10)
	if err != nil || len(evs) != 2 || evs[0].ID != "one" || evs[1].ID != "three" {
		t.Fatalf("after a reopen: %+v, %v; want one and three", evs, err)
	}
}
