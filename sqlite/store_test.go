package sqlite_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
	"github.com/sluicehq/sluice/storetest"
)

// newLog makes an empty log in a temporary directory.
func newLog(tb testing.TB) storetest.Opener {
	dir := tb.TempDir()
	return func(tb testing.TB) sluice.Store {
		tb.Helper()
		s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	}
}

func TestStore(t *testing.T) {
	storetest.Run(t, newLog, storetest.Features{})
}
