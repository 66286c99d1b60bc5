package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/storetest"
)

// TestStore_Retention: whole units of 65,536 positions go once the archive
// has delivered them, on every process sharing the schema.
func TestStore_Retention(t *testing.T) {
	url, schema := testutil.PostgresSchema(t)
	s := openStore(t, postgres.Options{URL: url, Schema: schema})
	first := storetest.RunRetention(t, s, 1<<16, 5000)
	if first != 3<<16+1 {
		t.Errorf("the log starts at %d, want %d", first, 3<<16+1)
	}
	var left int64
	q := "SELECT count(*) FROM " + pgx.Identifier{schema, "events"}.Sanitize() + " WHERE position < $1"
	if err := connect(t, url).QueryRow(context.Background(), q, int64(first)).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d events before the first position, %v", left, err)
	}
	if _, err := s.ReadLog(context.Background(), 0, sluice.Filter{}, 1); !errors.Is(err, sluice.ErrGone) {
		t.Errorf("ReadLog after 0: %v", err)
	}
}
