package postgres

import (
	"context"
	"embed"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations reads the embedded migrations, once.
var loadMigrations = sync.OnceValues(func() ([]migrate.Migration, error) {
	return migrate.Load(migrationFiles, "migrations")
})

// NewestMigration is the newest PostgreSQL migration that this build
// knows: a schema that has a newer one that is not additive needs a newer
// build (migrate.Check).
func NewestMigration() (int, error) {
	ms, err := loadMigrations()
	return migrate.Newest(ms), err
}

// applyMigrations creates the schema when it is missing and applies the migrations
// it lacks, in one transaction that holds an advisory lock of the schema's
// own: processes that open the store at once wait for each other instead of
// racing. A schema with a newer migration that this build cannot run on
// is refused with a *migrate.TooNewError before anything is written;
// release is recorded as the binary that applied the migrations applied.
func applyMigrations(ctx context.Context, pool *pgxpool.Pool, schema, release string) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "sluice migrate "+schema); err != nil {
			return err
		}
		if err := prepareSchema(ctx, tx, schema); err != nil {
			return err
		}
		applied, err := appliedMigrations(ctx, tx)
		if err != nil {
			return err
		}
		if err := checkSchema(ctx, tx, applied, migrate.Newest(ms), release); err != nil {
			return err
		}
		var applying []migrate.Migration
		for _, m := range ms {
			if !applied[m.Version] {
				applying = append(applying, m)
			}
		}
		if len(applying) == 0 {
			return nil
		}
		for _, m := range applying {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
				return err
			}
		}
		for _, m := range ms { // after the migration that adds the columns
			by := ""
			if !applied[m.Version] {
				by = release
			}
			// applied_by stays what it was for the migrations applied before.
			if _, err := tx.Exec(ctx, "UPDATE schema_migrations SET breaks_before = $1, applied_by = coalesce(nullif($2, ''), applied_by) WHERE version = $3", m.BreaksBefore, by, m.Version); err != nil {
				return fmt.Errorf("record %s: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate schema %s: %w", schema, err)
	}
	return nil
}

// checkSchema returns a *migrate.TooNewError when the schema has a
// migration after known that a binary which knows up to known cannot run
// on.
func checkSchema(ctx context.Context, tx pgx.Tx, applied map[int]bool, known int, release string) error {
	newest := 0
	for v := range applied {
		newest = max(newest, v)
	}
	if newest <= known {
		return nil
	}
	rows, err := tx.Query(ctx, "SELECT version, breaks_before, applied_by FROM schema_migrations WHERE version > $1", known)
	if err != nil {
		return fmt.Errorf("the schema is at migration %d, newer than this binary's %d: read what it needs: %w", newest, known, err)
	}
	newer, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (migrate.Applied, error) {
		var a migrate.Applied
		err := row.Scan(&a.Version, &a.BreaksBefore, &a.By)
		return a, err
	})
	if err != nil {
		return err
	}
	return migrate.Check("PostgreSQL", release, known, newer)
}

// prepareSchema creates the schema unless it exists, and its
// schema_migrations table. It asks first, because CREATE SCHEMA IF NOT
// EXISTS needs the CREATE privilege on the database even when the schema
// exists, and a schema made by an administrator should not need it.
func prepareSchema(ctx context.Context, tx pgx.Tx, schema string) error {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	return err
}

// appliedMigrations returns the versions recorded in schema_migrations.
func appliedMigrations(ctx context.Context, tx pgx.Tx) (map[int]bool, error) {
	rows, err := tx.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, err
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, err
	}
	applied := make(map[int]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}
	return applied, nil
}
