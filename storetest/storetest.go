package storetest

import (
	"testing"

	"github.com/sluicehq/sluice"
)

// Opener opens the log under test. Every call of one Opener opens the same
// log: a reopen after Close, or, with Features.SharedAccess, a second
// process sharing it. The Opener closes what it opened when the test ends.
type Opener func(tb testing.TB) sluice.Store

// NewLog makes a fresh, empty log and returns its Opener.
type NewLog func(tb testing.TB) Opener

// Features says what a backend supports beyond the common contract.
type Features struct {
	// SharedAccess: several Stores may have one log open at once, as
	// several processes sharing a PostgreSQL database do.
	SharedAccess bool
}

// Run runs the conformance suite against the backend.
func Run(t *testing.T, newLog NewLog, f Features) {
	t.Helper()
}
