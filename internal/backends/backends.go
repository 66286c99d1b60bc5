package backends

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/sqlite"
)

// Open returns a new, empty store, closed when the test ends.
type Open func(t *testing.T) sluice.Store

// Run runs fn on the embedded store and on PostgreSQL, as parallel
// subtests named after them.
func Run(t *testing.T, fn func(t *testing.T, open Open)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, SQLite)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, func(t *testing.T) sluice.Store {
			url, schema := testutil.PostgresSchema(t)
			return Postgres(t, url, schema)
		})
	})
}

// SQLite opens an embedded store in a temporary directory.
func SQLite(t *testing.T) sluice.Store {
	t.Helper()
	return openSQLite(t, t.TempDir())
}

// openSQLite opens the embedded store in dir until the test ends.
func openSQLite(t *testing.T, dir string) sluice.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Postgres opens a store on schema of the PostgreSQL at url; several may
// share one schema, as several processes do.
func Postgres(t *testing.T, url, schema string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), postgres.Options{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// RunLog runs fn on the embedded store and on PostgreSQL with one fresh
// log each: every call of open opens that log again (on the embedded
// store, once the previous Store is closed), as a restarted process does.
func RunLog(t *testing.T, fn func(t *testing.T, open Open)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		fn(t, func(t *testing.T) sluice.Store { return openSQLite(t, dir) })
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url, schema := testutil.PostgresSchema(t)
		fn(t, func(t *testing.T) sluice.Store { return Postgres(t, url, schema) })
	})
}
