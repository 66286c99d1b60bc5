package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/migrate"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
)

// migrationRows returns the schema's schema_migrations, by version.
func migrationRows(t *testing.T, url, schema string) map[int]migrate.Applied {
	t.Helper()
	rows, err := connect(t, url).Query(context.Background(), fmt.Sprintf("SELECT version, breaks_before, applied_by FROM %s.schema_migrations", schema))
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (migrate.Applied, error) {
		var a migrate.Applied
		err := row.Scan(&a.Version, &a.BreaksBefore, &a.By)
		return a, err
	})
	if err != nil {
		t.Fatal(err)
	}
	byVersion := map[int]migrate.Applied{}
	for _, a := range got {
		byVersion[a.Version] = a
	}
	return byVersion
}

// schemaAt makes a schema with one event, migrated by release, and
// returns the URL and the schema.
func schemaAt(t *testing.T, release string) (url, schema string) {
	t.Helper()
	url, schema = testutil.PostgresSchema(t)
	s := openStore(t, postgres.Options{URL: url, Schema: schema, Release: release})
	mustAppend(t, s, sluice.AppendRequest{Events: []sluice.Event{event("", "a", "")}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return url, schema
}

func TestOpen_SchemaCompatibility(t *testing.T) {
	known, err := postgres.NewestMigration()
	if err != nil {
		t.Fatal(err)
	}
	// Every migration is additive on PostgreSQL so far, and recorded with
	// the release that applied it.
	t.Run("Recorded", func(t *testing.T) {
		url, schema := schemaAt(t, "v1.0.0")
		got := migrationRows(t, url, schema)
		if len(got) != known {
			t.Fatalf("%d migrations recorded, want %d", len(got), known)
		}
		for v, a := range got {
			if a.BreaksBefore != 0 || a.By != "v1.0.0" {
				t.Errorf("migration %d recorded as breaks-before %d by %q, want additive by v1.0.0", v, a.BreaksBefore, a.By)
			}
		}
	})
	// A newer binary applied migration 8, which a binary without it cannot
	// run on: Open refuses, names the release to run, and writes nothing.
	t.Run("NewerNotAdditive", func(t *testing.T) {
		url, schema := schemaAt(t, "v1.0.0")
		execSQL(t, url, fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, breaks_before, applied_by) VALUES (%d, '_future.sql', %d, 'v2.0.0')", schema, known+1, known+1))
		before := migrationRows(t, url, schema)
		_, err := postgres.Open(t.Context(), postgres.Options{URL: url, Schema: schema, Release: "v1.0.0"})
		var tooNew *migrate.TooNewError
		if !errors.As(err, &tooNew) {
			t.Fatalf("Open: %v, want a *migrate.TooNewError", err)
		}
		want := migrate.TooNewError{Store: "PostgreSQL", Newest: known + 1, Needs: known + 1, NeedsBy: "v2.0.0", Known: known, Release: "v1.0.0"}
		if *tooNew != want {
			t.Errorf("got %+v, want %+v", *tooNew, want)
		}
		if msg := err.Error(); !strings.Contains(msg, schema) || !strings.Contains(msg, "Run sluice v2.0.0 or a later release") {
			t.Errorf("error %q does not name the schema and the release to run", msg)
		}
		if errors.Is(err, sluice.ErrUnavailable) {
			t.Errorf("error %q is ErrUnavailable: a refusal is not worth retrying", err)
		}
		after := migrationRows(t, url, schema)
		if len(after) != len(before) {
			t.Errorf("the refused Open changed schema_migrations: %d rows, then %d", len(before), len(after))
		}
	})
	// A newer additive migration: the store opens, is written, and keeps
	// its row.
	t.Run("NewerAdditive", func(t *testing.T) {
		url, schema := schemaAt(t, "v1.0.0")
		execSQL(t, url, fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, breaks_before, applied_by) VALUES (%d, '_future.sql', 0, 'v2.0.0')", schema, known+1))
		s := openStore(t, postgres.Options{URL: url, Schema: schema, Release: "v1.0.0"})
		res := mustAppend(t, s, sluice.AppendRequest{Events: []sluice.Event{event("", "a", "")}})
		if p := res[0].Events[0].Position; p != 2 {
			t.Errorf("appended at %d, want 2", p)
		}
		if a, ok := migrationRows(t, url, schema)[known+1]; !ok || a.By != "v2.0.0" {
			t.Errorf("the newer migration's row is %+v (present %t), want it as the newer binary left it", a, ok)
		}
	})
}
