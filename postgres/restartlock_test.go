package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
)

// TestStore_LockRestart: two stores on one schema take the restart lock in
// turn; a store on another schema has a lock of its own.
func TestStore_LockRestart(t *testing.T) {
	url, schema := testutil.PostgresSchema(t)
	a := openStore(t, postgres.Options{URL: url, Schema: schema})
	b := openStore(t, postgres.Options{URL: url, Schema: schema})
	ctx := context.Background()
	unlock, err := a.LockRestart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = b.LockRestart(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second LockRestart while the first holds it: %v, want the context's deadline", err)
	}
	other, err := newStore(t).LockRestart(ctx)
	if err != nil {
		t.Fatalf("LockRestart on another schema: %v", err)
	}
	if err := other(); err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	unlockB, err := b.LockRestart(ctx)
	if err != nil {
		t.Fatalf("LockRestart after the release: %v", err)
	}
	if err := unlockB(); err != nil {
		t.Fatal(err)
	}
}
