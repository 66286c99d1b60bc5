//go:build sqlite_purego

package sqlite

import (
	"errors"

	"modernc.org/sqlite" // pure Go, for builds without cgo: see docs/decisions.md
)

// sqliteFull is SQLITE_FULL, the primary result code of "database or disk
// is full".
const sqliteFull = 13

const driverName = "sqlite"

// dsn is the data source name of the database at path: WAL with
// synchronous=FULL fsyncs the WAL at every commit (but the log's index
// transactions, which logTx runs at NORMAL).
func dsn(path string, readOnly bool) string {
	d := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(0)"
	if readOnly {
		return d + "&_pragma=query_only(1)&_pragma=cache_size(" + readerCacheKiB + ")"
	}
	return d + "&_pragma=cache_size(" + writerCacheKiB + ")"
}

// driverFull reports whether err is SQLITE_FULL ("database or disk is
// full").
func driverFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqliteFull
}
