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

// Run runs the conformance suite against the backend. Each subtest gets a
// fresh log.
func Run(t *testing.T, newLog NewLog, f Features) {
	t.Helper()
	tests := []struct {
		name string
		run  func(*testing.T, Opener, Features)
	}{
		{"AppendStream", testAppendStream},
		{"ExpectedVersion", testExpectedVersion},
		{"RequestsFailAlone", testRequestsFailAlone},
		{"InvalidEvents", testInvalidEvents},
		{"AppendBatch", testAppendBatch},
		{"Duplicates", testDuplicates},
		{"ReadStream", testReadStream},
		{"ReadLog", testReadLog},
		{"ListStreams", testListStreams},
		{"WaitHead", testWaitHead},
		{"Checkpoints", testCheckpoints},
		{"Leases", testLeases},
		{"Subscriptions", testSubscriptions},
		{"WaitCheckpoint", testWaitCheckpoint},
		{"Schemas", testSchemas},
		{"SchemasConcurrent", testSchemasConcurrent},
		{"Quarantine", testQuarantine},
		{"QuarantineTrim", testQuarantineTrim},
		{"SinkState", testSinkState},
		{"DeadLetters", testDeadLetters},
		{"Keys", testKeys},
		{"ConcurrentExpectedVersion", testConcurrentExpectedVersion},
		{"FollowWhileWriting", testFollowWhileWriting},
		{"GroupCommitWriter", testGroupCommitWriter},
		{"Reopen", testReopen},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newLog(t), f)
		})
	}
}
