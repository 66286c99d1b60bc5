package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

const selectSchemas = "SELECT type, version, schema, created_at FROM schemas"

// PutSchema stores doc as the next version of typ's schema unless it equals
// the latest; see sluice.Schemas. A transaction-scoped advisory lock on the
// schema and the type serializes the calls for one type across every
// process, so that two documents never get one version: PostgreSQL makes a
// transaction visible before it releases its locks, so the next holder
// reads the version the previous one inserted.
func (s *Store) PutSchema(ctx context.Context, typ string, doc []byte) (sluice.SchemaVersion, bool, error) {
	op := fmt.Sprintf("put schema %q", typ)
	if err := s.checkOpen(op); err != nil {
		return sluice.SchemaVersion{}, false, err
	}
	var v sluice.SchemaVersion
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext('sluice schema ' || current_schema() || ' ' || $1))", typ); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, selectSchemas+" WHERE type = $1 ORDER BY version DESC LIMIT 1", typ) // CollectOneRow reports Query's error
		latest, err := pgx.CollectOneRow(rows, readSchema)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err == nil && bytes.Equal(latest.Schema, doc) {
			v = latest
			return nil
		}
		rows, _ = tx.Query(ctx, `INSERT INTO schemas (type, version, schema) VALUES ($1, $2, $3)
			RETURNING type, version, schema, created_at`, typ, latest.Version+1, string(doc))
		v, err = pgx.CollectOneRow(rows, readSchema)
		created = err == nil
		return err
	})
	if err != nil {
		return sluice.SchemaVersion{}, false, s.fail(op, err)
	}
	return v, created, nil
}

// Schema returns one version of typ's schema, 0 the latest.
func (s *Store) Schema(ctx context.Context, typ string, version int) (sluice.SchemaVersion, error) {
	op := fmt.Sprintf("schema %q version %d", typ, version)
	if err := s.checkOpen(op); err != nil {
		return sluice.SchemaVersion{}, err
	}
	q, args := selectSchemas+" WHERE type = $1 AND version = $2", []any{typ, version}
	if version == 0 {
		q, args = selectSchemas+" WHERE type = $1 ORDER BY version DESC LIMIT 1", []any{typ}
	}
	rows, _ := s.pool.Query(ctx, q, args...) // CollectOneRow reports Query's error
	v, err := pgx.CollectOneRow(rows, readSchema)
	if errors.Is(err, pgx.ErrNoRows) {
		return sluice.SchemaVersion{}, fmt.Errorf("%s: %w", op, sluice.ErrSchemaNotFound)
	}
	if err != nil {
		return sluice.SchemaVersion{}, s.fail(op, err)
	}
	return v, nil
}

// LatestSchemas returns the latest version of every type's schema, in byte
// order of the types.
func (s *Store) LatestSchemas(ctx context.Context) ([]sluice.SchemaVersion, error) {
	if err := s.checkOpen("latest schemas"); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, "SELECT DISTINCT ON (type) type, version, schema, created_at FROM schemas ORDER BY type, version DESC") // CollectRows reports Query's error
	vs, err := pgx.CollectRows(rows, readSchema)
	if err != nil {
		return nil, s.fail("latest schemas", err)
	}
	return vs, nil
}

// readSchema reads a row of selectSchemas.
func readSchema(row pgx.CollectableRow) (sluice.SchemaVersion, error) {
	var v sluice.SchemaVersion
	var doc []byte
	err := row.Scan(&v.Type, &v.Version, &doc, &v.CreatedAt)
	v.Schema, v.CreatedAt = doc, v.CreatedAt.UTC()
	return v, err
}
