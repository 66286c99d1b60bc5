package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
	"github.com/sluicehq/sluice/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, newLog, storetest.Features{SharedAccess: true})
}

// newLog makes a schema of the test's own; every call of its Opener opens a
// new Store on it, as another process would.
func newLog(tb testing.TB) storetest.Opener {
	tb.Helper()
	url, schema := testutil.PostgresSchema(tb)
	return func(tb testing.TB) sluice.Store {
		tb.Helper()
		return openStore(tb, postgres.Options{URL: url, Schema: schema})
	}
}

// openStore opens a Store and closes it when the test ends.
func openStore(tb testing.TB, opts postgres.Options) *postgres.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, opts)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// newStore opens a Store on a new schema.
func newStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	url, schema := testutil.PostgresSchema(tb)
	return openStore(tb, postgres.Options{URL: url, Schema: schema})
}

// event makes a valid event with the given id (empty: assigned).
func event(id, typ, stream string) sluice.Event {
	return sluice.Event{ID: id, Type: typ, Stream: stream, Data: json.RawMessage(`{"n": 1}`)}
}

// mustAppend appends and fails the test on an error of the call.
func mustAppend(tb testing.TB, s sluice.Store, reqs ...sluice.AppendRequest) []sluice.AppendResult {
	tb.Helper()
	res, err := s.Append(context.Background(), reqs)
	if err != nil {
		tb.Fatalf("append: %v", err)
	}
	if len(res) != len(reqs) {
		tb.Fatalf("append: %d results for %d requests", len(res), len(reqs))
	}
	return res
}

func TestOpen(t *testing.T) {
	t.Run("CreatesSchema", func(t *testing.T) {
		url, schema := testutil.PostgresSchema(t)
		schema += "_new"
		t.Cleanup(func() { execSQL(t, url, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
		s := openStore(t, postgres.Options{URL: url, Schema: schema})
		mustAppend(t, s, sluice.AppendRequest{Events: []sluice.Event{event("", "a", "")}})
	})
	t.Run("ConcurrentOpensMigrateOnce", func(t *testing.T) {
		url, schema := testutil.PostgresSchema(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				s, err := postgres.Open(t.Context(), postgres.Options{URL: url, Schema: schema})
				if err != nil {
					t.Errorf("open: %v", err)
					return
				}
				_ = s.Close()
			})
		}
		wg.Wait()
		s := openStore(t, postgres.Options{URL: url, Schema: schema})
		mustAppend(t, s, sluice.AppendRequest{Events: []sluice.Event{event("", "a", "")}})
		reopened := openStore(t, postgres.Options{URL: url, Schema: schema})
		if head, err := reopened.Head(t.Context()); err != nil || head != 1 {
			t.Fatalf("head after reopen = %d, %v; want 1", head, err)
		}
		files, err := os.ReadDir("migrations")
		if err != nil {
			t.Fatal(err)
		}
		var n int
		queryRow(t, url, fmt.Sprintf("SELECT count(*) FROM %s.schema_migrations", schema), &n)
		if n != len(files) {
			t.Fatalf("schema_migrations has %d rows, want one per migration, %d", n, len(files))
		}
	})
	t.Run("InvalidOptions", func(t *testing.T) {
		_, err := postgres.Open(t.Context(), postgres.Options{Schema: strings.Repeat("s", 64)})
		if err == nil || !strings.Contains(err.Error(), "url:") || !strings.Contains(err.Error(), "schema:") {
			t.Fatalf("err = %v, want both problems", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := postgres.Open(ctx, postgres.Options{URL: "postgres://postgres@127.0.0.1:1/test?sslmode=disable"})
		if !errors.Is(err, sluice.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
}

func TestStore_Append(t *testing.T) {
	t.Run("StoresEventsByteForByte", func(t *testing.T) {
		s := newStore(t)
		in := sluice.Event{
			ID: "e1", Type: "order.placed", Stream: "order-1", Source: "shop", Time: "2024-05-01T10:00:00.5+02:00",
			Data: json.RawMessage(` {"b": 2,  "a": [1, 2.50]} `), Metadata: json.RawMessage(`{"correlation_id": "x"}`),
		}
		before := time.Now().Add(-time.Second)
		res := mustAppend(t, s, sluice.AppendRequest{Events: []sluice.Event{in}})
		if got := res[0].Events[0]; got != (sluice.Appended{ID: "e1", Position: 1, Version: 1}) {
			t.Fatalf("appended %+v", got)
		}
		out, err := s.ReadStream(t.Context(), "order-1", sluice.ReadStreamOptions{Limit: 10})
		if err != nil || len(out) != 1 {
			t.Fatalf("read = %v, %v", out, err)
		}
		e := out[0]
		if e.RecordedAt.Before(before) || e.RecordedAt.Location() != time.UTC {
			t.Fatalf("recorded_at = %v", e.RecordedAt)
		}
		e.RecordedAt = time.Time{}
		want := in
		want.Position, want.Version = 1, 1
		if !equalEvent(e, want) {
			t.Fatalf("read %+v\nwant %+v", e, want)
		}
	})
	t.Run("Duplicates", func(t *testing.T) {
		s := newStore(t)
		mustAppend(t, s, sluice.AppendRequest{Events: []sluice.Event{event("a", "t", "s1"), event("b", "t", "s2")}})
		res := mustAppend(t, s, sluice.AppendRequest{Events: []sluice.Event{
			event("b", "t", "s2"), event("c", "t", "s1"), event("c", "t", "s1"),
		}})
		want := []sluice.Appended{
			{ID: "b", Position: 2, Version: 1, Duplicate: true},
			{ID: "c", Position: 3, Version: 2},
			{ID: "c", Position: 3, Version: 2, Duplicate: true},
		}
		if fmt.Sprint(res[0].Events) != fmt.Sprint(want) {
			t.Fatalf("got %+v\nwant %+v", res[0].Events, want)
		}
		if head, _ := s.Head(t.Context()); head != 3 {
			t.Fatalf("head = %d, want 3", head)
		}
	})
	t.Run("WrongExpectedVersionFailsOnlyItsRequest", func(t *testing.T) {
		s := newStore(t)
		res := mustAppend(t, s,
			sluice.AppendRequest{Stream: "order-1", Expected: sluice.NoStream, Events: []sluice.Event{event("a", "t", "")}},
			sluice.AppendRequest{Stream: "order-1", Expected: sluice.NoStream, Events: []sluice.Event{event("b", "t", "")}},
			sluice.AppendRequest{Stream: "order-1", Expected: sluice.ExactVersion(1), Events: []sluice.Event{event("c", "t", "")}},
		)
		var wrong *sluice.WrongExpectedVersionError
		if res[0].Err != nil || !errors.As(res[1].Err, &wrong) || wrong.Current != 1 || len(res[1].Events) != 0 || res[2].Err != nil {
			t.Fatalf("results %+v", res)
		}
		if got := res[2].Events[0]; got.Position != 2 || got.Version != 2 {
			t.Fatalf("third request stored at %+v, want position 2 version 2", got)
		}
	})
	t.Run("RetriedStreamAppendIsIdempotent", func(t *testing.T) {
		s := newStore(t)
		req := sluice.AppendRequest{Stream: "order-1", Expected: sluice.NoStream, Events: []sluice.Event{event("a", "t", ""), event("b", "t", "")}}
		mustAppend(t, s, req)
		res := mustAppend(t, s, req)
		if res[0].Err != nil || !res[0].Events[1].Duplicate || res[0].Events[1].Version != 2 {
			t.Fatalf("retry: %+v", res[0])
		}
	})
	t.Run("InvalidEventWritesNothing", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Append(t.Context(), []sluice.AppendRequest{{Events: []sluice.Event{event("a", "t", ""), {Type: "t"}}}})
		var invalid *sluice.EventError
		if !errors.As(err, &invalid) || invalid.Index != 1 {
			t.Fatalf("err = %v, want an EventError for event 1", err)
		}
		if head, _ := s.Head(t.Context()); head != 0 {
			t.Fatalf("head = %d, want 0", head)
		}
	})
	t.Run("ConcurrentStreamAppendsOneWins", func(t *testing.T) {
		open := newLog(t)
		stores := []sluice.Store{open(t), open(t)}
		var wg sync.WaitGroup
		results := make([]sluice.AppendResult, 8)
		for i := range results {
			wg.Go(func() {
				req := sluice.AppendRequest{Stream: "race", Expected: sluice.NoStream, Events: []sluice.Event{event("", "t", "")}}
				res, err := stores[i%2].Append(t.Context(), []sluice.AppendRequest{req})
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
				results[i] = res[0]
			})
		}
		wg.Wait()
		won := 0
		for _, r := range results {
			if r.Err == nil {
				won++
			} else if !errors.Is(r.Err, sluice.ErrWrongExpectedVersion) {
				t.Errorf("err = %v", r.Err)
			}
		}
		if won != 1 {
			t.Fatalf("%d appends won, want 1", won)
		}
	})
	t.Run("PositionsHaveNoGapsUnderConcurrentWriters", func(t *testing.T) {
		open := newLog(t)
		stores := []sluice.Store{open(t), open(t)}
		const writers, appends, batch = 4, 15, 5
		const total = writers * appends * batch
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for range appends {
					events := make([]sluice.Event, batch)
					for i := range events {
						events[i] = event("", "t", fmt.Sprintf("s-%d", i%3))
					}
					if _, err := stores[w%2].Append(t.Context(), []sluice.AppendRequest{{Events: events}}); err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			})
		}
		readAll(t, open(t), total) // fails on a gap
		wg.Wait()
	})
}

// readAll tails the log until it has read n events, and fails the test if
// a position is not the one after the last it saw.
func readAll(t *testing.T, s sluice.Store, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var last sluice.Position
	for last < sluice.Position(n) {
		events, err := s.ReadLog(ctx, last, sluice.Filter{}, 100)
		if err != nil {
			t.Fatalf("read log: %v", err)
		}
		for _, e := range events {
			if e.Position != last+1 {
				t.Fatalf("read position %d after %d", e.Position, last)
			}
			last = e.Position
		}
		if len(events) == 0 {
			if _, err := s.WaitHead(ctx, last); err != nil {
				t.Fatalf("wait head after %d: %v", last, err)
			}
		}
	}
}

func TestStore_Read(t *testing.T) {
	s := newStore(t)
	mustAppend(t, s, sluice.AppendRequest{Events: []sluice.Event{
		event("1", "a", "order-1"), event("2", "b", "order-2"), event("3", "a", "order-1"),
		event("4", "a", "orders"), event("5", "b", "o%der"), event("6", "a", "o_x"), event("7", "a", "order"),
	}})
	positions := func(events []sluice.Event) string {
		var ps []string
		for _, e := range events {
			ps = append(ps, fmt.Sprint(e.Position))
		}
		return strings.Join(ps, ",")
	}
	t.Run("ReadStream", func(t *testing.T) {
		for _, tc := range []struct {
			opts sluice.ReadStreamOptions
			want string
		}{
			{sluice.ReadStreamOptions{Limit: 10}, "1,3"},
			{sluice.ReadStreamOptions{Limit: 1, FromVersion: 2}, "3"},
			{sluice.ReadStreamOptions{Limit: 10, FromVersion: 3}, ""},
			{sluice.ReadStreamOptions{Limit: 10, Backward: true}, "3,1"},
			{sluice.ReadStreamOptions{Limit: 10, Backward: true, FromVersion: 1}, "1"},
		} {
			events, err := s.ReadStream(t.Context(), "order-1", tc.opts)
			if err != nil || positions(events) != tc.want {
				t.Errorf("%+v: %s, %v; want %s", tc.opts, positions(events), err, tc.want)
			}
		}
		if _, err := s.ReadStream(t.Context(), "nope", sluice.ReadStreamOptions{Limit: 1}); !errors.Is(err, sluice.ErrStreamNotFound) {
			t.Errorf("missing stream: err = %v", err)
		}
	})
	t.Run("ReadLog", func(t *testing.T) {
		for _, tc := range []struct {
			after  sluice.Position
			filter sluice.Filter
			limit  int
			want   string
		}{
			{0, sluice.Filter{}, 100, "1,2,3,4,5,6,7"},
			{2, sluice.Filter{}, 2, "3,4"},
			{2, sluice.Filter{}, 0, "3"}, // a limit counts as at least 1
			{0, sluice.Filter{Types: []string{"b"}}, 100, "2,5"},
			{0, sluice.Filter{StreamPrefix: "order-"}, 100, "1,2,3"},
			{0, sluice.Filter{StreamPrefix: "o%"}, 100, "5"},
			{0, sluice.Filter{StreamPrefix: "o_"}, 100, "6"},
			{0, sluice.Filter{Category: "order"}, 100, "1,2,3,7"},
			{0, sluice.Filter{Category: "order-1"}, 100, ""},
			{0, sluice.Filter{Category: "order", Types: []string{"a"}}, 100, "1,3,7"},
		} {
			events, err := s.ReadLog(t.Context(), tc.after, tc.filter, tc.limit)
			if err != nil || positions(events) != tc.want {
				t.Errorf("after %d %+v: %s, %v; want %s", tc.after, tc.filter, positions(events), err, tc.want)
			}
		}
	})
	t.Run("ListStreams", func(t *testing.T) {
		infos, err := s.ListStreams(t.Context(), "order", "order-1", 2)
		want := []sluice.StreamInfo{{Stream: "order-2", Version: 1, LastPosition: 2}, {Stream: "orders", Version: 1, LastPosition: 4}}
		if err != nil || fmt.Sprint(infos) != fmt.Sprint(want) {
			t.Fatalf("got %+v, %v; want %+v", infos, err, want)
		}
		if infos, _ := s.ListStreams(t.Context(), "o_", "", 10); len(infos) != 1 || infos[0].Stream != "o_x" {
			t.Fatalf("prefix o_: %+v", infos)
		}
	})
}

func TestStore_Checkpoints(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if p, err := s.Checkpoint(ctx, "c"); p != 0 || err != nil {
		t.Fatalf("new checkpoint = %d, %v", p, err)
	}
	if err := s.SetCheckpoint(ctx, "c", 0, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCheckpoint(ctx, "c", 0, 6); !errors.Is(err, sluice.ErrCheckpointConflict) {
		t.Fatalf("set from 0 again: err = %v", err)
	}
	if err := s.SetCheckpoint(ctx, "c", 4, 6); !errors.Is(err, sluice.ErrCheckpointConflict) {
		t.Fatalf("set from 4: err = %v", err)
	}
	if err := s.SetCheckpoint(ctx, "c", 5, 7); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Checkpoint(ctx, "c"); p != 7 {
		t.Fatalf("checkpoint = %d, want 7", p)
	}
}

func TestStore_Leases(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	first, err := s.AcquireLease(ctx, "sink", "a", time.Minute)
	if err != nil || first.Holder != "a" || time.Until(first.Expires) < 50*time.Second {
		t.Fatalf("acquire: %+v, %v", first, err)
	}
	_, err = s.AcquireLease(ctx, "sink", "b", time.Minute)
	var held *sluice.LeaseHeldError
	if !errors.As(err, &held) || held.Holder != "a" || !held.Expires.Equal(first.Expires) {
		t.Fatalf("acquire by b: err = %v", err)
	}
	if renewed, err := s.AcquireLease(ctx, "sink", "a", 2*time.Minute); err != nil || !renewed.Expires.After(first.Expires) {
		t.Fatalf("renew: %+v, %v", renewed, err)
	}
	if err := s.ReleaseLease(ctx, "sink", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "sink", "b", time.Minute); !errors.Is(err, sluice.ErrLeaseHeld) {
		t.Fatalf("release by b freed a's lease: err = %v", err)
	}
	if err := s.ReleaseLease(ctx, "sink", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, "sink", "b", time.Millisecond); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		_, err := s.AcquireLease(ctx, "sink", "c", time.Minute)
		return err == nil
	}, "c takes b's expired lease")
}

func TestStore_WaitHead(t *testing.T) {
	t.Run("WokenByAnotherStore", func(t *testing.T) {
		open := newLog(t)
		waiter, writer := open(t), open(t)
		woken := make(chan sluice.Position, 1)
		go func() {
			head, _ := waiter.WaitHead(t.Context(), 0)
			woken <- head
		}()
		mustAppend(t, writer, sluice.AppendRequest{Events: []sluice.Event{event("", "t", "")}})
		if head := receive(t, woken); head != 1 {
			t.Fatalf("woken at %d, want 1", head)
		}
	})
	t.Run("NotWokenByAnotherSchema", func(t *testing.T) {
		open, other := newLog(t), newLog(t)
		waiter, writer, stranger := open(t), open(t), other(t)
		mustAppend(t, writer, sluice.AppendRequest{Events: []sluice.Event{event("", "t", "")}})
		waitHead(t, waiter, 0) // the waiter listens

		// Notifications arrive in commit order: had the stranger's head (5)
		// reached the waiter, it would come before the writer's (2).
		events := make([]sluice.Event, 5)
		for i := range events {
			events[i] = event("", "t", "")
		}
		mustAppend(t, stranger, sluice.AppendRequest{Events: events})
		mustAppend(t, writer, sluice.AppendRequest{Events: []sluice.Event{event("", "t", "")}})
		if head := waitHead(t, waiter, 1); head != 2 {
			t.Fatalf("woken at %d, want 2", head)
		}
	})
	t.Run("ListenerReconnects", func(t *testing.T) {
		waiter, writer, disconnect := waiterAndWriter(t)
		mustAppend(t, writer, sluice.AppendRequest{Events: []sluice.Event{event("", "t", "")}})
		waitHead(t, waiter, 0) // the waiter listens

		disconnect()
		mustAppend(t, writer, sluice.AppendRequest{Events: []sluice.Event{event("", "t", "")}})
		if head := waitHead(t, waiter, 1); head != 2 {
			t.Fatalf("woken at %d, want 2", head)
		}
	})
	t.Run("CloseWakesWaiters", func(t *testing.T) {
		s := newStore(t)
		woken := make(chan error, 1)
		go func() {
			_, err := s.WaitHead(t.Context(), 0)
			woken <- err
		}()
		_ = s.Close()
		if err := receive(t, woken); !errors.Is(err, sluice.ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	})
}

// TestStore_WaitCheckpoint: a checkpoint moved by another process while
// the waiter's listener reconnects wakes the waiter once it listens again.
// The rest of WaitCheckpoint's contract is in storetest.
func TestStore_WaitCheckpoint(t *testing.T) {
	waiter, writer, disconnect := waiterAndWriter(t)
	type wake struct {
		p   sluice.Position
		err error
	}
	woken := make(chan wake, 2)
	go func() {
		for at := sluice.Position(0); at < 2; {
			p, err := waiter.WaitCheckpoint(t.Context(), "c", at)
			if errors.Is(err, sluice.ErrUnavailable) {
				continue // a read on a pooled connection that disconnect terminated
			}
			woken <- wake{p, err}
			if err != nil {
				return
			}
			at = p
		}
	}()
	ctx := t.Context()
	if err := writer.SetCheckpoint(ctx, "c", 0, 1); err != nil {
		t.Fatal(err)
	}
	if w := receive(t, woken); w.err != nil || w.p != 1 {
		t.Fatalf("woken at %d (%v), want 1", w.p, w.err)
	}
	// The listener reconnects after a delay: the move falls in it, and no
	// notification of it reaches the waiter.
	disconnect()
	if err := writer.SetCheckpoint(ctx, "c", 1, 2); err != nil {
		t.Fatal(err)
	}
	if w := receive(t, woken); w.err != nil || w.p != 2 {
		t.Fatalf("woken at %d (%v), want 2", w.p, w.err)
	}
}

// waiterAndWriter opens two Stores on a new schema, as two processes;
// disconnect terminates every connection of the waiter, its listener's
// included.
func waiterAndWriter(t *testing.T) (waiter, writer *postgres.Store, disconnect func()) {
	t.Helper()
	dbURL, schema := testutil.PostgresSchema(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	waiter = openStore(t, postgres.Options{URL: u.String(), Schema: schema})
	writer = openStore(t, postgres.Options{URL: dbURL, Schema: schema})
	return waiter, writer, func() {
		t.Helper()
		var killed int
		queryRow(t, dbURL, fmt.Sprintf("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '%s'", schema), &killed)
		if killed == 0 {
			t.Fatal("found no connection of the waiter to terminate")
		}
	}
}

// waitHead waits up to 10s for the head to pass after.
func waitHead(t *testing.T, s sluice.Store, after sluice.Position) sluice.Position {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	head, err := s.WaitHead(ctx, after)
	if err != nil {
		t.Fatalf("wait head after %d: %v", after, err)
	}
	return head
}

// receive waits up to 10s for a value from ch.
func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10s")
		panic("unreachable")
	}
}

func TestStore_Closed(t *testing.T) {
	s := newStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	ctx := t.Context()
	for name, err := range map[string]error{
		"Append":     second(s.Append(ctx, []sluice.AppendRequest{{Events: []sluice.Event{event("", "t", "")}}})),
		"ReadStream": second(s.ReadStream(ctx, "s", sluice.ReadStreamOptions{Limit: 1})),
		"ReadLog":    second(s.ReadLog(ctx, 0, sluice.Filter{}, 1)),
		"Head":       second(s.Head(ctx)),
		"WaitHead":   second(s.WaitHead(ctx, 0)),
		"Checkpoint": second(s.Checkpoint(ctx, "c")),
		"Lease":      second(s.AcquireLease(ctx, "l", "h", time.Second)),
	} {
		if !errors.Is(err, sluice.ErrClosed) {
			t.Errorf("%s: err = %v, want ErrClosed", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// equalEvent compares events field by field, the raw JSON byte for byte.
func equalEvent(a, b sluice.Event) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Stream == b.Stream && a.Source == b.Source && a.Time == b.Time &&
		string(a.Data) == string(b.Data) && string(a.Metadata) == string(b.Metadata) &&
		a.Position == b.Position && a.Version == b.Version && a.RecordedAt.Equal(b.RecordedAt)
}

// execSQL runs one statement on a connection of its own.
func execSQL(tb testing.TB, url, sql string) {
	tb.Helper()
	conn := connect(tb, url)
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// queryRow scans the one row of a query on a connection of its own.
func queryRow(tb testing.TB, url, sql string, dest ...any) {
	tb.Helper()
	conn := connect(tb, url)
	if err := conn.QueryRow(context.Background(), sql).Scan(dest...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

func connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}
