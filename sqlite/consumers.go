package sqlite

import (
	"context"
	"database/sql"
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
// (compare-and-set).
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
	res, err := s.wc.ExecContext(ctx, q, int64(new), name, int64(old))
	if err != nil {
		return fmt.Errorf("set checkpoint %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set checkpoint %q: %w", name, err)
	}
	if n == 1 {
		return nil
	}
	return fmt.Errorf("set checkpoint %q from %d: %w", name, old, sluice.ErrCheckpointConflict)
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
