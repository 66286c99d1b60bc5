//go:build !sqlite_purego

package sqlite

import (
	"errors"

	"github.com/mattn/go-sqlite3" // the default driver: see docs/decisions.md
)

const driverName = "sqlite3"

// dsn is the data source name of the database at path: WAL with
// synchronous=FULL fsyncs the WAL at every commit (but the log's index
// transactions, which logTx runs at NORMAL).
func dsn(path string, readOnly bool) string {
	d := "file:" + path + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_foreign_keys=0"
	if readOnly {
		return d + "&_query_only=1&_cache_size=" + readerCacheKiB
	}
	return d + "&_cache_size=" + writerCacheKiB
}

// driverFull reports whether err is SQLITE_FULL ("database or disk is
// full").
func driverFull(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrFull
}
