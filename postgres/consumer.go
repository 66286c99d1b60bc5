package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

// Checkpoint returns the consumer's position, 0 if it has none.
func (s *Store) Checkpoint(ctx context.Context, name string) (sluice.Position, error) {
	if err := s.checkOpen("checkpoint"); err != nil {
		return 0, err
	}
	var position int64
	err := s.pool.QueryRow(ctx, "SELECT position FROM checkpoints WHERE name = $1", name).Scan(&position)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, s.fail("checkpoint", err)
	}
	return sluice.Position(position), nil
}

// SetCheckpoint moves the consumer's position from old to new, or returns
// sluice.ErrCheckpointConflict when it is not at old. A consumer without a
// checkpoint is at 0. The move and its announcement to the WaitCheckpoint
// calls of every process (NOTIFY, sent at commit) are one statement: an ack
// is one round trip.
func (s *Store) SetCheckpoint(ctx context.Context, name string, old, new sluice.Position) error {
	if err := s.checkOpen("set checkpoint"); err != nil {
		return err
	}
	move := "UPDATE checkpoints SET position = $3 WHERE name = $1 AND position = $2"
	if old == 0 {
		move = `INSERT INTO checkpoints (name, position) VALUES ($1, $3)
			ON CONFLICT (name) DO UPDATE SET position = excluded.position WHERE checkpoints.position = $2`
	}
	tag, err := s.pool.Exec(ctx, "WITH moved AS ("+move+" RETURNING 1) SELECT pg_notify($4, $1) FROM moved",
		name, toInt64(uint64(old)), toInt64(uint64(new)), s.checkpointChannel)
	if err != nil {
		return s.fail("set checkpoint", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set checkpoint %q from %d: %w", name, old, sluice.ErrCheckpointConflict)
	}
	s.checkpoints.NotifyMoved(name, new)
	return nil
}

// WaitCheckpoint blocks until the consumer's checkpoint is no longer at, and
// returns it. It is woken by this Store's writes, which say where the
// checkpoint went (no query), by the notifications of every other
// process's (see SetCheckpoint), and by Close.
func (s *Store) WaitCheckpoint(ctx context.Context, name string, at sluice.Position) (sluice.Position, error) {
	op := fmt.Sprintf("wait checkpoint %q", name)
	p, err := sluice.WaitChange(ctx, &s.checkpoints, name, at, func(ctx context.Context) (sluice.Position, error) {
		return s.Checkpoint(ctx, name)
	})
	if err != nil {
		if err := s.checkOpen(op); err != nil {
			return p, err
		}
		return p, fmt.Errorf("%s: %w", op, err)
	}
	return p, nil
}

// AcquireLease takes the lease for holder for ttl, or renews it when holder
// has it already; when another holder has it, it returns a
// *sluice.LeaseHeldError. Expiry is decided by the database's clock, the
// one clock that every process sharing the store agrees on.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (sluice.Lease, error) {
	if err := s.checkOpen("acquire lease"); err != nil {
		return sluice.Lease{}, err
	}
	for {
		lease, err := s.tryLease(ctx, name, holder, ttl)
		if err != nil {
			return sluice.Lease{}, s.fail("acquire lease", err)
		}
		if lease.Holder == holder {
			return lease, nil
		}
		if lease.Holder != "" {
			return sluice.Lease{}, &sluice.LeaseHeldError{Name: name, Holder: lease.Holder, Expires: lease.Expires}
		}
		// Released between the two statements of tryLease: try again.
	}
}

// tryLease takes or renews the lease for holder if it is free, expired or
// holder's, and returns it. Otherwise it returns the lease as it is, held
// by another, or with no Holder when it was released in the meantime.
func (s *Store) tryLease(ctx context.Context, name, holder string, ttl time.Duration) (sluice.Lease, error) {
	lease := sluice.Lease{Name: name, Holder: holder}
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, expires_at)
		VALUES ($1, $2, now() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < now()
		RETURNING expires_at`, name, holder, ttl.Microseconds()).Scan(&lease.Expires)
	if !errors.Is(err, pgx.ErrNoRows) {
		lease.Expires = lease.Expires.UTC()
		return lease, err
	}
	lease.Holder = ""
	err = s.pool.QueryRow(ctx, "SELECT holder, expires_at FROM leases WHERE name = $1", name).Scan(&lease.Holder, &lease.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return lease, nil
	}
	lease.Expires = lease.Expires.UTC()
	return lease, err
}

// ReleaseLease gives the lease up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := s.checkOpen("release lease"); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM leases WHERE name = $1 AND holder = $2", name, holder); err != nil {
		return s.fail("release lease", err)
	}
	return nil
}
