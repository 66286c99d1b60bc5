package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice"
)

// AddKeys stores the keys in one transaction; see sluice.Keys. The unique
// indexes on the names in use and on the hashes decide between processes
// adding keys at once.
func (s *Store) AddKeys(ctx context.Context, ks []sluice.KeyRecord) error {
	if err := s.checkOpen("add keys"); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, k := range ks {
			if _, err := tx.Exec(ctx, `INSERT INTO keys (id, name, role, hash, origins, types, rate, burst, bootstrap, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				k.ID, k.Name, k.Role, k.Hash[:], nonNil(k.Origins), nonNil(k.Types), k.Rate, k.Burst, k.Bootstrap, k.CreatedAt); err != nil {
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "23505" { // unique_violation
					return fmt.Errorf("add key %q: %w", k.Name, sluice.ErrKeyExists)
				}
				return err
			}
		}
		return nil
	})
	if errors.Is(err, sluice.ErrKeyExists) {
		return err
	}
	if err != nil {
		return s.fail("add keys", err)
	}
	return nil
}

// ListKeys returns every key, by name and creation.
func (s *Store) ListKeys(ctx context.Context) ([]sluice.KeyRecord, error) {
	if err := s.checkOpen("list keys"); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, name, role, hash, origins, types, rate, burst, bootstrap, created_at, revoked_at
		FROM keys ORDER BY name, created_at`) // CollectRows reports Query's error
	ks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sluice.KeyRecord, error) {
		var k sluice.KeyRecord
		var hash []byte
		var revoked *time.Time
		err := row.Scan(&k.ID, &k.Name, &k.Role, &hash, &k.Origins, &k.Types, &k.Rate, &k.Burst, &k.Bootstrap, &k.CreatedAt, &revoked)
		copy(k.Hash[:], hash)
		k.CreatedAt = k.CreatedAt.UTC()
		if revoked != nil {
			k.RevokedAt = revoked.UTC()
		}
		return k, err
	})
	if err != nil {
		return nil, s.fail("list keys", err)
	}
	return ks, nil
}

// UpdateKey replaces the limits of the named key; see sluice.Keys.
func (s *Store) UpdateKey(ctx context.Context, k sluice.KeyRecord) error {
	return s.changeKey(ctx, "update key "+k.Name, "UPDATE keys SET origins = $2, types = $3, rate = $4, burst = $5 WHERE name = $1 AND revoked_at IS NULL",
		k.Name, nonNil(k.Origins), nonNil(k.Types), k.Rate, k.Burst)
}

// RevokeKey marks the named key revoked; see sluice.Keys.
func (s *Store) RevokeKey(ctx context.Context, name string, at time.Time) error {
	return s.changeKey(ctx, "revoke key "+name, "UPDATE keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL", name, at)
}

// changeKey runs the update of one key, ErrKeyNotFound when it changes no
// row.
func (s *Store) changeKey(ctx context.Context, op, query string, args ...any) error {
	if err := s.checkOpen(op); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return s.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, sluice.ErrKeyNotFound)
	}
	return nil
}

// nonNil is l, or an empty list for nil (the columns are NOT NULL).
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
