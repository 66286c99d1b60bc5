//go:build sqlite_purego

package sqlite

// driverFullError is nil: modernc's *sqlite.Error cannot be made outside
// the driver, so only the disk-full test of the harness covers it.
func driverFullError() error { return nil }
