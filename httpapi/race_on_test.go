//go:build race

package httpapi

// raceEnabled: the race detector makes sync.Pool drop a share of what it
// is given, so allocation counts that rely on a pool do not hold.
const raceEnabled = true
