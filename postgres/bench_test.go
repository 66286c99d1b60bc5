package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/storetest"
)

// Run both in one go, so that they are measured against each other:
//
//	SLUICE_TEST_POSTGRES=… go test -run '^$' -bench . ./postgres/

const benchBatch = 500

// benchEvents returns a batch of page views of about 400 bytes of JSON, with
// random UUIDv4 ids, in 50 streams.
func benchEvents() []sluice.Event {
	events := make([]sluice.Event, benchBatch)
	for i := range events {
		events[i] = storetest.BenchEvent(i)
	}
	return events
}

// BenchmarkAppendBatch500 appends batches of 500 events with Store.Append.
func BenchmarkAppendBatch500(b *testing.B) {
	url, schema := testutil.PostgresSchema(b)
	s, err := postgres.Open(context.Background(), postgres.Options{URL: url, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		events := benchEvents()
		b.StartTimer()
		if _, err := s.Append(context.Background(), []sluice.AppendRequest{{Events: events}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawCopy500 is the baseline of BenchmarkAppendBatch500: the same
// rows, COPY'd 500 to a transaction into a bare table with the indexes of
// events, and nothing else.
func BenchmarkRawCopy500(b *testing.B) {
	url, schema := testutil.PostgresSchema(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	table := pgx.Identifier{schema, "raw_events"}
	if _, err := conn.Exec(ctx, `CREATE TABLE `+table.Sanitize()+` (
		position    bigint PRIMARY KEY,
		id          text COLLATE "C" NOT NULL UNIQUE,
		stream      text COLLATE "C" NOT NULL,
		version     bigint NOT NULL,
		type        text COLLATE "C" NOT NULL,
		source      text NOT NULL,
		time        text NOT NULL,
		data        bytea NOT NULL,
		metadata    bytea,
		recorded_at timestamptz NOT NULL,
		UNIQUE (stream, version)
	)`); err != nil {
		b.Fatal(err)
	}
	columns := []string{"position", "id", "stream", "version", "type", "source", "time", "data", "metadata", "recorded_at"}
	var position int64
	versions := map[string]int64{}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		events := benchEvents()
		b.StartTimer()
		now := time.Now().UTC()
		rows := make([][]any, len(events))
		for i, e := range events {
			position++
			versions[e.Stream]++
			rows[i] = []any{position, e.ID, e.Stream, versions[e.Stream], e.Type, e.Source, e.Time, []byte(e.Data), []byte(nil), now}
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, table, columns, pgx.CopyFromRows(rows))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}
