package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/storetest"
)

// Run the store's benchmarks and their baseline in one go, so that they
// are measured against each other:
//
//	SLUICE_TEST_POSTGRES=… go test -run '^$' -bench . ./postgres/
//
// BenchmarkStore/AppendBatch500 over BenchmarkRawCopy500 is the ratio that
// docs/benchmarks.md reports.

const benchBatch = 500

// BenchmarkStore runs the benchmarks every backend shares, each on a new
// schema, after a CHECKPOINT.
func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(tb testing.TB) storetest.Opener {
		open := newLog(tb)
		checkpoint(tb, testutil.PostgresURL(tb))
		return open
	})
}

// checkpoint flushes what earlier benchmarks wrote, so that a checkpoint
// they made due does not land in the next one's time.
func checkpoint(tb testing.TB, url string) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		tb.Logf("no checkpoint before the benchmark: %v", err)
	}
}

// BenchmarkRawCopy500 is the baseline of BenchmarkAppendBatch500: the same
// rows, COPY'd 500 to a transaction into a bare table with the indexes of
// events, and nothing else (postgres.RawCopy).
func BenchmarkRawCopy500(b *testing.B) {
	url, schema := testutil.PostgresSchema(b)
	ctx := context.Background()
	c, err := postgres.NewRawCopy(ctx, url, schema) // checkpoints
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	b.SetBytes(int64(benchBatch * len(storetest.BenchEvent(0).Data)))
	events := make([]sluice.Event, benchBatch)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for i := range events {
			events[i] = storetest.BenchEvent(i)
		}
		b.StartTimer()
		if err := c.Copy(ctx, events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}
