package sqlite_test

import (
	"testing"

	"github.com/sluicehq/sluice/storetest"
)

// go test -run '^$' -bench . ./sqlite/
func BenchmarkStore(b *testing.B) { storetest.Benchmark(b, newLog) }
