package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// Checkpoint returns the consumer's position, 0 if it has none.
func (s *Store) Checkpoint(ctx context.Context, name string) (sluice.Position, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	var p int64
	err := s.r.QueryRowContext(ctx, "SELECT position FROM checkpoints WHERE name = ?", name).Scan(&p)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %q: %w", name, err)
	}
	return sluice.Position(p), nil
}

// SetCheckpoint moves the consumer's position from old to new
// (compare-and-set). The move is committed without an fsync: see
// checkpointSync.
func (s *Store) SetCheckpoint(ctx context.Context, name string, old, new sluice.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sluice.ErrClosed
	}
	// A consumer without a row is at 0: only a move from 0 may create it.
	q := "UPDATE checkpoints SET position = ? WHERE name = ? AND position = ?"
	if old == 0 {
		q = `INSERT INTO checkpoints (position, name) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET position = excluded.position WHERE checkpoints.position = ?`
	}
	var n int64
	err := s.relaxed(ctx, func() error {
		res, err := s.wc.ExecContext(ctx, q, int64(new), name, int64(old))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("set checkpoint %q: %w", name, err)
	}
	if n != 1 {
		return fmt.Errorf("set checkpoint %q from %d: %w", name, old, sluice.ErrCheckpointConflict)
	}
	s.checkpoints.Notify(name)
	return nil
}

// checkpointSync is the synchronous setting that checkpoints are committed
// with. With NORMAL, in WAL mode, a commit is not fsync'd: it survives a
// crash of the process, is lost only with the machine (power, kernel), and
// the next FULL commit, such as any Append, fsyncs the WAL that holds it. A
// lost move of a checkpoint makes its consumer receive events again, which
// at-least-once delivery allows; in exchange a subscriber's acks do not each
// take an fsync between the group commits of ingest.
var checkpointSync = "NORMAL"

// relaxed runs fn, autocommit writes on s.wc, with synchronous set to
// checkpointSync, and sets it back to FULL, the setting of every other
// write, before it returns. SQLite allows the change only between
// transactions. Callers hold s.mu.
func (s *Store) relaxed(ctx context.Context, fn func() error) error {
	if _, err := s.wc.ExecContext(ctx, "PRAGMA synchronous="+checkpointSync); err != nil {
		return err
	}
	err := fn()
	if _, rerr := s.wc.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous=FULL"); rerr != nil {
		// Appends must not commit unsynced: discard the connection, and
		// every write fails until the store is opened again.
		_ = s.wc.Raw(func(any) error { return driver.ErrBadConn })
		return errors.Join(err, fmt.Errorf("restore synchronous=FULL: %w", rerr))
	}
	return err
}

// WaitCheckpoint blocks until the consumer's checkpoint is no longer at, and
// returns it. It is woken by this Store's writes (no other process can have
// the log open) and by Close.
func (s *Store) WaitCheckpoint(ctx context.Context, name string, at sluice.Position) (sluice.Position, error) {
	p, err := sluice.WaitChange(ctx, &s.checkpoints, name, at, func(ctx context.Context) (sluice.Position, error) {
		return s.Checkpoint(ctx, name)
	})
	if err != nil {
		if err := s.checkOpen(); err != nil {
			return p, err // closed before the read or under it
		}
		return p, fmt.Errorf("wait checkpoint %q: %w", name, err)
	}
	return p, nil
}

// AcquireLease takes or renews the lease for holder; see sluice.Leases.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (sluice.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sluice.Lease{}, sluice.ErrClosed
	}
	now := time.Now()
	expires := now.Add(ttl)
	var got string
	var until int64
	err := s.wc.QueryRowContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ?
		RETURNING holder, expires_at`, name, holder, expires.UnixNano(), now.UnixNano()).Scan(&got, &until)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.wc.QueryRowContext(ctx, "SELECT holder, expires_at FROM leases WHERE name = ?", name).Scan(&got, &until)
		if err != nil {
			return sluice.Lease{}, fmt.Errorf("acquire lease %q: %w", name, err)
		}
		return sluice.Lease{}, &sluice.LeaseHeldError{Name: name, Holder: got, Expires: time.Unix(0, until).UTC()}
	}
	if err != nil {
		return sluice.Lease{}, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return sluice.Lease{Name: name, Holder: holder, Expires: time.Unix(0, until).UTC()}, nil
}

// ReleaseLease gives the lease up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sluice.ErrClosed
	}
	if _, err := s.wc.ExecContext(ctx, "DELETE FROM leases WHERE name = ? AND holder = ?", name, holder); err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}
