package sqlite

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
)

// stored reads the consumer's checkpoint row, as a restart after a crash
// would find it.
func stored(t *testing.T, s *Store, name string) sluice.Position {
	t.Helper()
	var p int64
	if err := s.r.QueryRow("SELECT coalesce(max(position), 0) FROM checkpoints WHERE name = ?", name).Scan(&p); err != nil {
		t.Fatal(err)
	}
	return sluice.Position(p)
}

// TestCheckpoints_Written: a moved checkpoint is written by the next commit
// of the log, or, without one, within idleFlushDelay, and by Close.
func TestCheckpoints_Written(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetCheckpoint(ctx, "with-commit", 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, []sluice.AppendRequest{{Events: []sluice.Event{{Type: "t", Data: []byte("1")}}}}); err != nil {
		t.Fatal(err)
	}
	if p := stored(t, s, "with-commit"); p != 1 {
		t.Fatalf("after a commit the row is at %d, want 1", p)
	}
	if err := s.SetCheckpoint(ctx, "idle", 0, 1); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*idleFlushDelay, func() bool { return stored(t, s, "idle") == 1 }, "the idle flush never wrote the move")
	if err := s.SetCheckpoint(ctx, "at-close", 0, 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := s.Checkpoint(ctx, "at-close"); err != nil || p != 7 {
		t.Fatalf("after Close and Open: %d (%v), want 7", p, err)
	}
}
