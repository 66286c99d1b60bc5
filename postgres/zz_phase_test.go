package postgres

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/storetest"
)

func TestZZPhases(t *testing.T) {
	url, schema := testutil.PostgresSchema(t)
	s, err := Open(context.Background(), Options{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var d [5]time.Duration
	const n = 400
	for it := 0; it < n; it++ {
		events := make([]sluice.Event, 500)
		for i := range events {
			events[i] = storetest.BenchEvent(i)
		}
		reqs := []sluice.AppendRequest{{Events: events}}
		c, _ := s.pool.Acquire(ctx)
		conn := c.Conn()
		t0 := time.Now()
		s.limits.Prepare(reqs)
		t1 := time.Now()
		p, err := lookup(ctx, conn, reqs, false)
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		p.recordedAt = time.Now()
		p.add(reqs)
		t3 := time.Now()
		rows := pgx.CopyFromSlice(len(p.events), func(i int) ([]any, error) { return eventRow(&p.events[i]), nil })
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, rows); err != nil {
			t.Fatal(err)
		}
		t4 := time.Now()
		b := &pgx.Batch{}
		queueUpdates(b, p, s.channel)
		switch os.Getenv("ZZ") {
		case "nonotify":
			b.QueuedQueries = b.QueuedQueries[:2]
		case "noupsert":
			b.QueuedQueries = b.QueuedQueries[1:]
		case "none":
			b.QueuedQueries = b.QueuedQueries[1:2]
		}
		b.Queue("COMMIT")
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			t.Fatal(err)
		}
		t5 := time.Now()
		c.Release()
		for i, x := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3), t5.Sub(t4)} {
			d[i] += x
		}
	}
	for i, name := range []string{"prepare", "begin+lookup", "plan", "copy", "update+commit"} {
		t.Logf("%-14s %v", name, d[i]/n)
	}
}

func TestZZRaw(t *testing.T) {
	url, schema := testutil.PostgresSchema(t)
	s, err := Open(context.Background(), Options{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var d [3]time.Duration
	const n = 400
	var pos int64
	vers := map[string]int64{}
	for it := 0; it < n; it++ {
		events := make([]sluice.Event, 500)
		for i := range events {
			events[i] = storetest.BenchEvent(i)
		}
		t0 := time.Now()
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		rows := pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			e := &events[i]
			pos++
			vers[e.Stream]++
			e.Position, e.Version = sluice.Position(pos), uint64(vers[e.Stream])
			e.RecordedAt = time.Now()
			return eventRow(e), nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, rows); err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		for i, x := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2)} {
			d[i] += x
		}
	}
	for i, name := range []string{"begin", "copy", "commit"} {
		t.Logf("%-12s %v", name, d[i]/n)
	}
}
