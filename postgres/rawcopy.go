package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

// RawCopy is the database's ceiling for sluice's writes, the baseline of
// "sluice bench suite" and of BenchmarkStore/AppendBatch500: the rows that
// Append would write for a batch of events, COPY'd in one transaction into
// a bare table with the same indexes (a primary key on the position, a
// unique id, a unique stream and version) and nothing else: no head, no
// notification, no dedupe lookup. Not safe for concurrent use.
type RawCopy struct {
	conn     *pgx.Conn
	table    pgx.Identifier
	position int64
	versions map[string]int64
}

// rawCopyColumns are the columns of the bare table, as COPY fills them.
var rawCopyColumns = []string{"position", "id", "stream", "version", "type", "source", "time", "data", "metadata", "recorded_at"}

// NewRawCopy connects to the database at url, creates the schema when it
// is missing and in it the table raw_events, then asks for a CHECKPOINT
// (best effort), so that what earlier work wrote is not flushed during the
// measurement. Close closes the connection; DropSchema removes the schema.
func NewRawCopy(ctx context.Context, url, schema string) (*RawCopy, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("raw copy: %w", err)
	}
	c := &RawCopy{conn: conn, table: pgx.Identifier{schema, "raw_events"}, versions: map[string]int64{}}
	_, err = conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize())
	if err == nil {
		_, err = conn.Exec(ctx, `CREATE TABLE `+c.table.Sanitize()+` (
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
		)`)
	}
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("raw copy: %w", err)
	}
	_, _ = conn.Exec(ctx, "CHECKPOINT") // needs privileges the caller may lack
	return c, nil
}

// Copy writes events in one transaction with COPY, numbering positions and
// versions on from the previous call, as Append would. The events must
// have ids, unique over all calls.
func (c *RawCopy) Copy(ctx context.Context, events []sluice.Event) error {
	now := time.Now().UTC()
	rows := make([][]any, len(events))
	for i, e := range events {
		c.position++
		c.versions[e.Stream]++
		rows[i] = []any{c.position, e.ID, e.Stream, c.versions[e.Stream], e.Type, e.Source, e.Time, []byte(e.Data), []byte(e.Metadata), now}
	}
	err := pgx.BeginFunc(ctx, c.conn, func(tx pgx.Tx) error {
		_, err := tx.CopyFrom(ctx, c.table, rawCopyColumns, pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return fmt.Errorf("raw copy: %w", err)
	}
	return nil
}

// Close closes the connection; the table stays.
func (c *RawCopy) Close(ctx context.Context) error {
	return c.conn.Close(ctx)
}

// DropSchema drops schema and everything in it, if it exists, from the
// database at url: what a benchmark's fresh schema leaves behind.
func DropSchema(ctx context.Context, url, schema string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("drop schema: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		return fmt.Errorf("drop schema %s: %w", schema, err)
	}
	return nil
}
