package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/migrate"
	"github.com/sluicehq/sluice/internal/testutil"
)

// execDB runs statements on the store's sluice.db in dir, which no Store
// has open, as a binary with other migrations would.
func execDB(t *testing.T, dir string, stmts ...string) {
	t.Helper()
	db, err := sql.Open(driverName, dsn(filepath.Join(dir, "sluice.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// migrationRows returns schema_migrations of the store in dir as
// version → "breaks_before applied_by".
func migrationRows(t *testing.T, dir string) map[int]migrate.Applied {
	t.Helper()
	db, err := sql.Open(driverName, dsn(filepath.Join(dir, "sluice.db"), true))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT version, breaks_before, applied_by FROM schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int]migrate.Applied{}
	for rows.Next() {
		var a migrate.Applied
		if err := rows.Scan(&a.Version, &a.BreaksBefore, &a.By); err != nil {
			t.Fatal(err)
		}
		got[a.Version] = a
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// newStoreAt makes a store in a new directory with a few events, opened
// and closed by release, and returns the directory.
func newStoreAt(t *testing.T, release string) string {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), Options{Dir: dir, Release: release})
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, s, events(0, 10))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestOpen_SchemaCompatibility(t *testing.T) {
	t.Parallel()
	known, err := NewestMigration()
	if err != nil {
		t.Fatal(err)
	}
	// Every migration is recorded with its marker and the release that
	// applied it; 006 and 007 are the ones that are not additive.
	t.Run("Recorded", func(t *testing.T) {
		t.Parallel()
		got := migrationRows(t, newStoreAt(t, "v1.0.0"))
		if len(got) != known {
			t.Fatalf("%d migrations recorded, want %d", len(got), known)
		}
		for v, a := range got {
			want := 0
			if v == 6 || v == 7 {
				want = v
			}
			if a.BreaksBefore != want || a.By != "v1.0.0" {
				t.Errorf("migration %d recorded as breaks-before %d by %q, want %d by v1.0.0", v, a.BreaksBefore, a.By, want)
			}
		}
	})
	// A store migrated before the markers were recorded (by a binary
	// without 009) gets the markers of its migrations, and no release for
	// them: that was not recorded.
	t.Run("RecordedAfterTheFact", func(t *testing.T) {
		t.Parallel()
		dir := newStoreAt(t, "v1.0.0")
		execDB(t, dir, "DELETE FROM schema_migrations WHERE version = 9",
			"ALTER TABLE schema_migrations DROP COLUMN breaks_before",
			"ALTER TABLE schema_migrations DROP COLUMN applied_by")
		s, err := Open(context.Background(), Options{Dir: dir, Release: "v1.1.0"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		got := migrationRows(t, dir)
		if a := got[7]; a.BreaksBefore != 7 || a.By != "" {
			t.Errorf("migration 7 recorded as %+v, want breaks-before 7 by no known release", a)
		}
		if a := got[9]; a.BreaksBefore != 0 || a.By != "v1.1.0" {
			t.Errorf("migration 9 recorded as %+v, want additive by v1.1.0", a)
		}
	})
	// A newer binary applied migration 10, which a binary without it
	// cannot run on: Open refuses, names the release to run, and leaves
	// every file as it was.
	t.Run("NewerNotAdditive", func(t *testing.T) {
		t.Parallel()
		dir := newStoreAt(t, "v1.0.0")
		execDB(t, dir, "INSERT INTO schema_migrations (version, name, breaks_before, applied_by) VALUES (10, '010_future.sql', 10, 'v2.0.0')",
			"INSERT INTO schema_migrations (version, name, breaks_before, applied_by) VALUES (11, '011_later.sql', 0, 'v2.1.0')")
		before := testutil.FileSums(t, dir)
		_, err := Open(context.Background(), Options{Dir: dir, Release: "v1.0.0"})
		var tooNew *migrate.TooNewError
		if !errors.As(err, &tooNew) {
			t.Fatalf("Open: %v, want a *migrate.TooNewError", err)
		}
		want := migrate.TooNewError{Store: "embedded store", Newest: 11, Needs: 10, NeedsBy: "v2.0.0", Known: known, Release: "v1.0.0"}
		if *tooNew != want {
			t.Errorf("got %+v, want %+v", *tooNew, want)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "open sqlite store "+dir+": the embedded store schema is at migration 11") || !strings.Contains(msg, "Run sluice v2.0.0 or a later release") {
			t.Errorf("error %q does not name the directory, the migration and the release to run", msg)
		}
		if after := testutil.FileSums(t, dir); !maps.Equal(before, after) {
			t.Errorf("the refused Open changed the directory: files before %d, after %d", len(before), len(after))
		}
		// CheckSchema says the same without opening the store.
		err = CheckSchema(context.Background(), dir, "v1.0.0")
		if !errors.As(err, &tooNew) || *tooNew != want {
			t.Errorf("CheckSchema: %v, want %+v", err, want)
		}
	})
	// CheckSchema reads the schema beside the process that has the store
	// open, and creates nothing where there is no store.
	t.Run("CheckSchema", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := CheckSchema(context.Background(), dir, "v1.0.0"); err != nil {
			t.Fatalf("CheckSchema of an empty directory: %v", err)
		}
		if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
			t.Fatalf("CheckSchema left %d files in an empty directory (%v)", len(entries), err)
		}
		s, err := Open(context.Background(), Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		appendEvents(t, s, events(0, 3))
		if err := CheckSchema(context.Background(), dir, "v1.0.0"); err != nil {
			t.Fatalf("CheckSchema of an open store of this build: %v", err)
		}
	})
	// Newer migrations that this binary can run on: additive ones, or one
	// that needs a migration this binary knows. The store opens, is
	// written, and keeps their rows.
	for name, breaks := range map[string]string{"NewerAdditive": "0", "NewerNeedsKnown": "7"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := newStoreAt(t, "v1.0.0")
			execDB(t, dir, "INSERT INTO schema_migrations (version, name, breaks_before, applied_by) VALUES (10, '010_future.sql', "+breaks+", 'v2.0.0')")
			s, err := Open(context.Background(), Options{Dir: dir, Release: "v1.0.0"})
			if err != nil {
				t.Fatal(err)
			}
			res := appendEvents(t, s, events(10, 5))
			if res[4].Position != 15 {
				t.Errorf("appended at %d, want 15", res[4].Position)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if a, ok := migrationRows(t, dir)[10]; !ok || a.By != "v2.0.0" {
				t.Errorf("migration 10's row is %+v (present %t), want it as the newer binary left it", a, ok)
			}
		})
	}
}
