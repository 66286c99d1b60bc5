package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluicehq/sluice/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// loadMigrations reads the embedded migrations, once.
var loadMigrations = sync.OnceValues(func() ([]migrate.Migration, error) {
	return migrate.Load(migrations, "migrations")
})

// NewestMigration is the newest migration of the embedded store that this
// build knows: a store whose schema has a newer one that is not additive
// needs a newer build (migrate.Check).
func NewestMigration() (int, error) {
	ms, err := loadMigrations()
	return migrate.Newest(ms), err
}

// CheckSchema returns what Open of the store in dir would say of its
// schema, without opening it: nil when this build can run on it (or there
// is no store yet), else a *migrate.TooNewError. It only reads sluice.db,
// and may run while another process has the store open: a restart's
// successor checks before it says it is ready, so that a binary that
// cannot run on the store leaves its predecessor serving.
func CheckSchema(ctx context.Context, dir, release string) error {
	path := filepath.Join(dir, "sluice.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil // opening it would create it
	}
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	db, err := sql.Open(driverName, dsn(path, true))
	if err != nil {
		return fmt.Errorf("check sqlite store %s: %w", dir, err)
	}
	defer db.Close()
	if err := checkSchema(ctx, db, ms, release); err != nil {
		return fmt.Errorf("check sqlite store %s: %w", dir, err)
	}
	return nil
}

// querier is a connection or a pool.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// checkSchema returns a *migrate.TooNewError when the schema has a
// migration newer than ms that a binary with ms cannot run on. It writes
// nothing.
func checkSchema(ctx context.Context, db querier, ms []migrate.Migration, release string) error {
	var tables, newest int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&tables); err != nil || tables == 0 {
		return err // a new store when there is no such table
	}
	if err := db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&newest); err != nil {
		return err
	}
	known := migrate.Newest(ms)
	if newest <= known {
		return nil
	}
	rows, err := db.QueryContext(ctx, "SELECT version, breaks_before, applied_by FROM schema_migrations WHERE version > ?", known)
	if err != nil {
		return fmt.Errorf("the schema is at migration %d, newer than this binary's %d: read what it needs: %w", newest, known, err)
	}
	defer rows.Close()
	var newer []migrate.Applied
	for rows.Next() {
		var a migrate.Applied
		if err := rows.Scan(&a.Version, &a.BreaksBefore, &a.By); err != nil {
			return err
		}
		newer = append(newer, a)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return migrate.Check("embedded store", release, known, newer)
}

// migrate applies the migrations of ms that the schema lacks and records
// them, with the markers of every migration in ms and release as the
// binary that applied those it applies.
func (s *Store) migrate(ctx context.Context, ms []migrate.Migration, release string) error {
	return s.inTx(ctx, func(tx *sql.Conn) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"); err != nil {
			return err
		}
		var applied int
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&applied); err != nil {
			return err
		}
		if applied >= migrate.Newest(ms) {
			return nil
		}
		for _, m := range ms {
			if m.Version <= applied {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", m.Version, m.Name); err != nil {
				return err
			}
		}
		for _, m := range ms { // after the migration that adds the columns
			by := ""
			if m.Version > applied {
				by = release
			}
			if _, err := tx.ExecContext(ctx, "UPDATE schema_migrations SET breaks_before = ?, applied_by = coalesce(nullif(?, ''), applied_by) WHERE version = ?", m.BreaksBefore, by, m.Version); err != nil {
				return fmt.Errorf("record migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
