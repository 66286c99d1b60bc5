//go:build !sqlite_purego

package sqlite

import "github.com/mattn/go-sqlite3"

// driverFullError is the driver's SQLITE_FULL.
func driverFullError() error { return sqlite3.Error{Code: sqlite3.ErrFull} }
