package sqlite_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sqlite"
)

// TestOpen_Lock: a directory open in one Store cannot be opened by a
// second, at once or after LockWait; with LockWait, Open gets it as soon
// as the first Store closes.
func TestOpen_Lock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("InUse", func(t *testing.T) {
		begin := time.Now()
		_, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, LockWait: 50 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "in use by another process") {
			t.Fatalf("Open of a directory in use: %v, want an error saying so", err)
		}
		if took := time.Since(begin); took < 50*time.Millisecond {
			t.Errorf("Open gave up after %s, before LockWait", took)
		}
	})
	t.Run("WaitsForClose", func(t *testing.T) {
		opened := make(chan error, 1)
		go func() {
			s, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, LockWait: 30 * time.Second})
			if err == nil {
				err = s.Close()
			}
			opened <- err
		}()
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-opened; err != nil {
			t.Fatalf("Open waiting for the lock: %v", err)
		}
	})
}
