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

// BenchmarkSegments_Write is a commit's write to the segment files alone:
// the frames of 500 events (about 200 KiB) written and fdatasync'd, with
// zeros written ahead (ZeroAhead, the store's way) and without (Grow: each
// commit grows the file).
//
//	go test -run '^$' -bench 'Segments_Write' -benchtime 3s ./sqlite/
func BenchmarkSegments_Write(b *testing.B) {
	frames := make([]byte, 200<<10)
	for i := range frames {
		frames[i] = byte(i)
	}
	for _, bc := range []struct {
		name  string
		ahead int64
	}{{"ZeroAhead", zeroAhead}, {"Grow", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			defer func(was int64) { zeroAhead = was }(zeroAhead)
			zeroAhead = bc.ahead
			sg, _, err := openSegments(b.TempDir(), 256<<20)
			if err != nil {
				b.Fatal(err)
			}
			defer sg.close()
			b.SetBytes(int64(len(frames)))
			first := sluice.Position(1)
			for b.Loop() {
				if _, _, err := sg.write(frames, first); err != nil {
					b.Fatal(err)
				}
				if err := sg.sync(); err != nil {
					b.Fatal(err)
				}
				first += 500
			}
		})
	}
}
