package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// Checkpoints copy the WAL's pages into the database file. SQLite runs
// them inside the commit that finds the WAL past its threshold, so that
// every few hundred commits one request waits for the copy and an fsync of
// the database file. Here a connection of its own runs a PASSIVE
// checkpoint every checkpointEvery, which never blocks the writer or the
// readers, and the writer's own threshold is raised to walFrames: when it
// is reached (the background cannot make the writer start the file over
// while it keeps appending), the writer's checkpoint finds most pages
// copied already, and the WAL starts over. See docs/decisions.md, D16.
const (
	checkpointEvery = 250 * time.Millisecond
	// walFrames is the writer's checkpoint threshold (32 MiB of 4 KiB
	// pages), which bounds the WAL.
	walFrames = "8192"
)

// checkpointer runs the checkpoints until ctx is done, then truncates the
// WAL, and closes done.
func (s *Store) checkpointer(ctx context.Context, conn *sql.Conn, done chan<- struct{}) {
	defer close(done)
	defer conn.Close()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_, _ = conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
			return
		case <-t.C:
		}
		// An error leaves every commit in the WAL; the next tick tries again.
		_, _ = conn.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	}
}
