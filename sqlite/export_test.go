package sqlite

// SetCheckpointSync makes SetCheckpoint commit with synchronous=level (FULL,
// NORMAL) until restore is called: BenchmarkStore_SetCheckpoint measures
// checkpointSync against FULL with it. Not for tests that run in parallel.
func SetCheckpointSync(level string) (restore func()) {
	old := checkpointSync
	checkpointSync = level
	return func() { checkpointSync = old }
}
