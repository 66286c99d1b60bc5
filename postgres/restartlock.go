package postgres

import (
	"context"
	"fmt"
)

// LockRestart waits for the restart lock of the store's schema, a session
// advisory lock that the nodes sharing the schema take in turn before each
// hands over to its successor (sluice serve on SIGHUP), so that nodes
// restarted at once restart one after another. unlock releases it; so does
// the end of the connection, should the process die holding it.
func (s *Store) LockRestart(ctx context.Context) (unlock func() error, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("restart lock: %w", err)
	}
	const key = "hashtext('sluice restart ' || current_schema())"
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		conn.Release()
		return nil, fmt.Errorf("restart lock: %w", err)
	}
	return func() error {
		defer conn.Release()
		if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock("+key+")"); err != nil {
			return fmt.Errorf("restart lock: release: %w", err)
		}
		return nil
	}, nil
}
