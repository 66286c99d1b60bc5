package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// AddKeys stores the keys in one transaction; see sluice.Keys. The write
// lock makes checking the names and hashes and inserting them atomic.
func (s *Store) AddKeys(ctx context.Context, ks []sluice.KeyRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	var exists error
	err := s.inTx(ctx, func(tx *sql.Conn) error {
		for _, k := range ks {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM keys WHERE (name = ? AND revoked_at IS NULL) OR hash = ?", k.Name, k.Hash[:]).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				exists = fmt.Errorf("add key %q: %w", k.Name, sluice.ErrKeyExists)
				return exists
			}
			origins, types := keyLists(k)
			if _, err := tx.ExecContext(ctx, `INSERT INTO keys (id, name, role, hash, origins, types, rate, burst, bootstrap, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				k.ID, k.Name, k.Role, k.Hash[:], origins, types, k.Rate, k.Burst, k.Bootstrap, k.CreatedAt.UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case exists != nil:
		return exists
	case err != nil:
		return unavailable("add keys", err)
	}
	return nil
}

// ListKeys returns every key, by name and creation.
func (s *Store) ListKeys(ctx context.Context) ([]sluice.KeyRecord, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, name, role, hash, origins, types, rate, burst, bootstrap, created_at, revoked_at
		FROM keys ORDER BY name, created_at`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	var out []sluice.KeyRecord
	for rows.Next() {
		var k sluice.KeyRecord
		var hash []byte
		var origins, types string
		var created int64
		var revoked sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Name, &k.Role, &hash, &origins, &types, &k.Rate, &k.Burst, &k.Bootstrap, &created, &revoked); err != nil {
			return nil, fmt.Errorf("list keys: %w", err)
		}
		copy(k.Hash[:], hash)
		if err := json.Unmarshal([]byte(origins), &k.Origins); err != nil {
			return nil, fmt.Errorf("key %q: origins: %w", k.Name, err)
		}
		if err := json.Unmarshal([]byte(types), &k.Types); err != nil {
			return nil, fmt.Errorf("key %q: types: %w", k.Name, err)
		}
		k.CreatedAt = time.Unix(0, created).UTC()
		if revoked.Valid {
			k.RevokedAt = time.Unix(0, revoked.Int64).UTC()
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return out, nil
}

// UpdateKey replaces the limits of the named key; see sluice.Keys.
func (s *Store) UpdateKey(ctx context.Context, k sluice.KeyRecord) error {
	origins, types := keyLists(k)
	return s.changeKey(ctx, "update key "+k.Name, "UPDATE keys SET origins = ?, types = ?, rate = ?, burst = ? WHERE name = ? AND revoked_at IS NULL",
		origins, types, k.Rate, k.Burst, k.Name)
}

// RevokeKey marks the named key revoked; see sluice.Keys.
func (s *Store) RevokeKey(ctx context.Context, name string, at time.Time) error {
	return s.changeKey(ctx, "revoke key "+name, "UPDATE keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", at.UnixNano(), name)
}

// changeKey runs the update of one key, ErrKeyNotFound when it changes no
// row.
func (s *Store) changeKey(ctx context.Context, op, query string, args ...any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	res, err := s.wc.ExecContext(ctx, query, args...)
	if err != nil {
		return unavailable(op, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("%s: %w", op, sluice.ErrKeyNotFound)
	}
	return nil
}

// keyLists returns k's origins and types as JSON arrays ([] for none).
func keyLists(k sluice.KeyRecord) (origins, types string) {
	o, _ := json.Marshal(append([]string{}, k.Origins...)) // a []string always encodes
	t, _ := json.Marshal(append([]string{}, k.Types...))
	return string(o), string(t)
}
