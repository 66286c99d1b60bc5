package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

const selectSchemas = "SELECT type, version, schema, created_at FROM schemas"

// PutSchema stores doc as the next version of typ's schema unless it equals
// the latest; see sluice.Schemas. The write lock makes reading the latest
// and inserting the next one atomic.
func (s *Store) PutSchema(ctx context.Context, typ string, doc []byte) (sluice.SchemaVersion, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.SchemaVersion{}, false, sluice.ErrClosed
	}
	var v sluice.SchemaVersion
	created := false
	err := s.inTx(ctx, func(tx *sql.Conn) error {
		latest, err := scanSchema(tx.QueryRowContext(ctx, selectSchemas+" WHERE type = ? ORDER BY version DESC LIMIT 1", typ))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && bytes.Equal(latest.Schema, doc) {
			v = latest
			return nil
		}
		v = sluice.SchemaVersion{Type: typ, Version: latest.Version + 1, Schema: bytes.Clone(doc), CreatedAt: time.Now().UTC()}
		created = true
		_, err = tx.ExecContext(ctx, "INSERT INTO schemas (type, version, schema, created_at) VALUES (?, ?, ?, ?)",
			typ, v.Version, string(doc), v.CreatedAt.UnixNano())
		return err
	})
	if err != nil {
		return sluice.SchemaVersion{}, false, unavailable(fmt.Sprintf("put schema %q", typ), err)
	}
	return v, created, nil
}

// Schema returns one version of typ's schema, 0 the latest.
func (s *Store) Schema(ctx context.Context, typ string, version int) (sluice.SchemaVersion, error) {
	if err := s.checkOpen(); err != nil {
		return sluice.SchemaVersion{}, err
	}
	row := s.reads.QueryRowContext(ctx, selectSchemas+" WHERE type = ? AND version = ?", typ, version)
	if version == 0 {
		row = s.reads.QueryRowContext(ctx, selectSchemas+" WHERE type = ? ORDER BY version DESC LIMIT 1", typ)
	}
	v, err := scanSchema(row)
	if errors.Is(err, sql.ErrNoRows) {
		return sluice.SchemaVersion{}, fmt.Errorf("schema %q version %d: %w", typ, version, sluice.ErrSchemaNotFound)
	}
	if err != nil {
		return sluice.SchemaVersion{}, fmt.Errorf("read schema %q: %w", typ, err)
	}
	return v, nil
}

// LatestSchemas returns the latest version of every type's schema, by type.
func (s *Store) LatestSchemas(ctx context.Context) ([]sluice.SchemaVersion, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.reads.QueryContext(ctx, selectSchemas+" AS s WHERE version = (SELECT max(version) FROM schemas WHERE type = s.type) ORDER BY type")
	if err != nil {
		return nil, fmt.Errorf("latest schemas: %w", err)
	}
	defer rows.Close()
	var out []sluice.SchemaVersion
	for rows.Next() {
		v, err := scanSchema(rows)
		if err != nil {
			return nil, fmt.Errorf("latest schemas: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest schemas: %w", err)
	}
	return out, nil
}

// scanSchema reads a row of selectSchemas.
func scanSchema(row interface{ Scan(...any) error }) (sluice.SchemaVersion, error) {
	var v sluice.SchemaVersion
	var doc []byte
	var created int64
	if err := row.Scan(&v.Type, &v.Version, &doc, &created); err != nil {
		return sluice.SchemaVersion{}, err
	}
	v.Schema, v.CreatedAt = doc, time.Unix(0, created).UTC()
	return v, nil
}
