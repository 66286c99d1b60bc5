package sqlite

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice"
)

// TestSetCheckpoint_RestoresFull: SetCheckpoint commits with
// checkpointSync, and leaves the writer at synchronous=FULL (2) for the
// appends after it, whether the move succeeds or conflicts.
func TestSetCheckpoint_RestoresFull(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, want := range []error{nil, sluice.ErrCheckpointConflict} {
		if err := s.SetCheckpoint(ctx, "proj", 0, 1); !errors.Is(err, want) {
			t.Fatalf("move from 0: %v, want %v", err, want)
		}
		var level int
		s.mu.Lock()
		err := s.wc.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level)
		s.mu.Unlock()
		if err != nil || level != 2 {
			t.Fatalf("after a move (%v) the writer is at synchronous=%d (%v), want 2 (FULL)", want, level, err)
		}
	}
}
