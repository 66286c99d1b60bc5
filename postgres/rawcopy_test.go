package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/storetest"
)

func TestRawCopy(t *testing.T) {
	t.Parallel()
	url, base := testutil.PostgresSchema(t)
	ctx := context.Background()
	schema := base + "_raw" // a schema NewRawCopy creates and DropSchema drops
	t.Cleanup(func() { _ = postgres.DropSchema(ctx, url, schema) })
	c, err := postgres.NewRawCopy(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		events := make([]sluice.Event, 10)
		for i := range events {
			events[i] = storetest.BenchEvent(i)
		}
		if err := c.Copy(ctx, events); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, maxVersion int
	table := pgx.Identifier{schema, "raw_events"}.Sanitize()
	if err := conn.QueryRow(ctx, `SELECT count(*), max(version) FROM `+table).Scan(&n, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if n != 20 || maxVersion != 2 {
		t.Fatalf("%d rows, highest version %d; want 20 rows, version 2 (two batches over the same streams)", n, maxVersion)
	}
	if err := postgres.DropSchema(ctx, url, schema); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil || exists {
		t.Fatalf("schema still exists (%v) after DropSchema", err)
	}
}
