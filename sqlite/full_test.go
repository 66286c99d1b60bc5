package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice"
)

// TestUnavailable_StorageFull: a full file system is sluice.ErrStorageFull
// (and so sluice.ErrUnavailable); another failure to write is only
// ErrUnavailable.
func TestUnavailable_StorageFull(t *testing.T) {
	enospc := &os.PathError{Op: "write", Path: "log.db-wal", Err: syscall.ENOSPC}
	if err := unavailable("append", fmt.Errorf("commit: %w", enospc)); !errors.Is(err, sluice.ErrStorageFull) || !errors.Is(err, sluice.ErrUnavailable) {
		t.Errorf("ENOSPC: %v, want ErrStorageFull and ErrUnavailable", err)
	}
	if full := driverFullError(); full != nil {
		if err := unavailable("append", full); !errors.Is(err, sluice.ErrStorageFull) {
			t.Errorf("SQLITE_FULL: %v, want ErrStorageFull", err)
		}
	}
	if err := unavailable("append", syscall.EIO); errors.Is(err, sluice.ErrStorageFull) || !errors.Is(err, sluice.ErrUnavailable) {
		t.Errorf("EIO: %v, want ErrUnavailable only", err)
	}
}
