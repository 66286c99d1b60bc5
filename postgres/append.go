package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice"
)

// Append stores the requests in one transaction. It first locks the row of
// log_head, which serializes the commits of every process: PostgreSQL makes
// a transaction visible before it releases its locks, so the next commit
// assigns its positions only after the previous one can be read, and
// readers never see a gap that later fills.
//
// Looking up the random ids of a batch of 500 took about a sixth of its
// commit, and ingest batches seldom repeat an id, so Append looks up only
// the ids of stream requests (a stream request of duplicates is a retry,
// answered without checking its expected version). Any other duplicate
// fails the unique index on id, and the call is redone with every id
// looked up.
func (s *Store) Append(ctx context.Context, reqs []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	if err := s.checkOpen("append"); err != nil {
		return nil, err
	}
	if err := s.limits.Prepare(reqs); err != nil {
		return nil, err
	}
	p, err := s.append(ctx, reqs, false)
	if isDuplicateID(err) {
		p, err = s.append(ctx, reqs, true)
	}
	if err != nil {
		return nil, s.fail("append", err)
	}
	s.notifier.Publish(p.Head)
	return p.Results, nil
}

// append runs one transaction of Append, looking up the ids of every
// request when allIDs is set, of the stream requests otherwise.
func (s *Store) append(ctx context.Context, reqs []sluice.AppendRequest, allIDs bool) (*sluice.CommitPlan, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	p, err := s.commit(ctx, conn.Conn(), reqs, allIDs)
	if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
		// Roll back, or the pool drops the connection.
		_, _ = conn.Exec(ctx, "ROLLBACK")
	}
	return p, err
}

// commit plans and writes the requests in three round trips: BEGIN with
// the lookups, COPY, and the updates with COMMIT.
func (s *Store) commit(ctx context.Context, conn *pgx.Conn, reqs []sluice.AppendRequest, allIDs bool) (*sluice.CommitPlan, error) {
	p, err := lookup(ctx, conn, reqs, allIDs)
	if err != nil {
		return nil, err
	}
	p.Add(reqs)
	return p, s.write(ctx, conn, p)
}

// isDuplicateID reports whether err is the violation of the unique index
// on the events' ids.
func isDuplicateID(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_id_key" // see migrations/001_init.sql
}

// lookup begins the transaction, locks the head and reads what the
// requests depend on: the head, the events already stored under the
// requests' ids (all of them, or those of stream requests), and the
// versions of their streams.
func lookup(ctx context.Context, conn *pgx.Conn, reqs []sluice.AppendRequest, allIDs bool) (*sluice.CommitPlan, error) {
	ids, streams, events := keys(reqs, allIDs)
	p := sluice.NewCommitPlan(0, time.Now().UTC().Truncate(time.Microsecond)) // what timestamptz keeps
	p.Events = make([]sluice.Event, 0, events)
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SELECT position FROM log_head FOR UPDATE").QueryRow(func(row pgx.Row) error { return scanHead(row, p) })
	if len(ids) > 0 {
		b.Queue("SELECT id, position, version FROM events WHERE id = ANY($1)", ids).Query(func(rows pgx.Rows) error { return scanStored(rows, p) })
	}
	b.Queue("SELECT stream, version FROM streams WHERE stream = ANY($1)", streams).Query(func(rows pgx.Rows) error { return scanVersions(rows, p) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return p, nil
}

// keys returns the ids of the requests' events (all, or those of stream
// requests), their distinct streams, and the number of events.
func keys(reqs []sluice.AppendRequest, allIDs bool) (ids, streams []string, events int) {
	seenStream := make(map[string]bool)
	addStream := func(s string) {
		if !seenStream[s] {
			seenStream[s] = true
			streams = append(streams, s)
		}
	}
	for _, req := range reqs {
		if req.Stream != "" {
			addStream(req.Stream)
		}
		events += len(req.Events)
		for i := range req.Events {
			if allIDs || req.Stream != "" {
				ids = append(ids, req.Events[i].ID)
			}
			addStream(req.Events[i].Stream)
		}
	}
	return ids, streams, events
}

// eventColumns are the columns of events, in the order that COPY writes
// and readEvent reads them.
var eventColumns = []string{"position", "id", "stream", "version", "type", "source", "time", "data", "metadata", "recorded_at"}

// write stores the plan's new events (COPY), moves their streams and the
// head, announces the head (NOTIFY is delivered at commit) and commits.
func (s *Store) write(ctx context.Context, conn *pgx.Conn, p *sluice.CommitPlan) error {
	b := &pgx.Batch{}
	if len(p.Events) > 0 {
		rows := pgx.CopyFromSlice(len(p.Events), func(i int) ([]any, error) {
			return eventRow(&p.Events[i]), nil
		})
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, rows); err != nil {
			return err
		}
		queueUpdates(b, p, s.channel)
	}
	b.Queue("COMMIT")
	return conn.SendBatch(ctx, b).Close()
}

// queueUpdates queues the statements that move the plan's streams and the
// head, and announce the head.
func queueUpdates(b *pgx.Batch, p *sluice.CommitPlan, channel string) {
	names := make([]string, 0, len(p.Streams))
	versions := make([]int64, 0, len(p.Streams))
	positions := make([]int64, 0, len(p.Streams))
	for _, info := range p.Streams {
		names = append(names, info.Stream)
		versions = append(versions, int64(info.Version))
		positions = append(positions, int64(info.LastPosition))
	}
	b.Queue(`INSERT INTO streams (stream, version, last_position)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
		ON CONFLICT (stream) DO UPDATE SET version = excluded.version, last_position = excluded.last_position`,
		names, versions, positions)
	b.Queue("UPDATE log_head SET position = $1", int64(p.Head))
	b.Queue("SELECT pg_notify($1, $2)", channel, strconv.FormatUint(uint64(p.Head), 10))
}

// eventRow is e as a row of eventColumns.
func eventRow(e *sluice.Event) []any {
	var metadata []byte
	if len(e.Metadata) > 0 {
		metadata = e.Metadata
	}
	return []any{int64(e.Position), e.ID, e.Stream, int64(e.Version), e.Type, e.Source, e.Time, []byte(e.Data), metadata, e.RecordedAt}
}

func scanHead(row pgx.Row, p *sluice.CommitPlan) error {
	var head int64
	err := row.Scan(&head)
	p.Head = sluice.Position(head)
	return err
}

func scanStored(rows pgx.Rows, p *sluice.CommitPlan) error {
	var a sluice.Appended
	var position, version int64
	_, err := pgx.ForEachRow(rows, []any{&a.ID, &position, &version}, func() error {
		a.Position, a.Version = sluice.Position(position), uint64(version)
		p.Stored[a.ID] = a
		return nil
	})
	return err
}

func scanVersions(rows pgx.Rows, p *sluice.CommitPlan) error {
	var stream string
	var version int64
	_, err := pgx.ForEachRow(rows, []any{&stream, &version}, func() error {
		p.Versions[stream] = uint64(version)
		return nil
	})
	return err
}
