package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// testSinkState: a sink's control is compared by revision, across
// processes; its status is what was last reported.
func testSinkState(t *testing.T, open Opener, f Features) {
	a := open(t)
	b := a
	if f.SharedAccess {
		b = open(t)
	}
	ctx := ctxFor(t)
	st, err := a.SinkState(ctx, "hook")
	if err != nil || st.Name != "hook" || st.Revision != 0 || st.Status != nil || st.Control != (sluice.SinkControl{}) {
		t.Fatalf("a sink never stored: %+v %v, want revision 0, no control, no status", st, err)
	}
	paused := sluice.SinkControl{Paused: true}
	rev, err := a.SetSinkControl(ctx, "hook", 0, paused)
	if err != nil || rev != 1 {
		t.Fatalf("first control: revision %d %v, want 1", rev, err)
	}
	if _, err := b.SetSinkControl(ctx, "hook", 0, sluice.SinkControl{}); !errors.Is(err, sluice.ErrRevisionConflict) {
		t.Fatalf("a second first control: %v, want ErrRevisionConflict", err)
	}
	replay := sluice.SinkControl{Disabled: "410 Gone", DisabledAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Replay: &sluice.SinkReplay{ID: "r1", After: 7, Through: 90, RequestedAt: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}}
	if rev, err = b.SetSinkControl(ctx, "hook", 1, replay); err != nil || rev != 2 {
		t.Fatalf("control at revision 1: revision %d %v, want 2", rev, err)
	}
	if _, err := a.SetSinkControl(ctx, "hook", 1, paused); !errors.Is(err, sluice.ErrRevisionConflict) {
		t.Fatalf("a stale revision: %v, want ErrRevisionConflict", err)
	}
	st, err = a.SinkState(ctx, "hook")
	if err != nil || st.Revision != 2 || !st.Control.DisabledAt.Equal(replay.DisabledAt) || st.Control.Disabled != "410 Gone" ||
		st.Control.Replay == nil || *st.Control.Replay != *replay.Replay || st.Control.Paused {
		t.Fatalf("state %+v %v, want revision 2 with %+v", st, err, replay)
	}
	// Another sink is apart.
	if _, err := a.SetSinkControl(ctx, "other", 0, paused); err != nil {
		t.Fatalf("another sink's control: %v", err)
	}

	// The status: the last report wins; the process that reports it runs
	// the sink, and on a shared store every process reads it.
	reporter := a
	for i, status := range []string{`{"state":"running","delivered":1}`, `{"state":"backing_off","delivered":5}`} {
		before := time.Now().Add(-time.Second)
		if err := reporter.SetSinkStatus(ctx, "hook", json.RawMessage(status)); err != nil {
			t.Fatalf("status %d: %v", i, err)
		}
		st, err := reporter.SinkState(ctx, "hook")
		if err != nil || !jsonEqual(st.Status, status) || st.StatusAt.Before(before) || st.StatusAt.Location() != time.UTC {
			t.Fatalf("status %d: %s at %v (%v), want %s now, in UTC", i, st.Status, st.StatusAt, err, status)
		}
		if st.Revision != 2 {
			t.Fatalf("status %d changed the control's revision to %d", i, st.Revision)
		}
	}
	if f.SharedAccess {
		st, err := b.SinkState(ctx, "hook")
		if err != nil || !jsonEqual(st.Status, `{"state":"backing_off","delivered":5}`) {
			t.Fatalf("the other process reads status %s (%v)", st.Status, err)
		}
	}
	// A status may come before any control: the control starts at 0.
	if err := a.SetSinkStatus(ctx, "fresh", json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if rev, err := b.SetSinkControl(ctx, "fresh", 0, paused); err != nil || rev != 1 {
		t.Fatalf("control after a status: revision %d %v, want 1", rev, err)
	}
}

// jsonEqual reports whether got is the JSON value want.
func jsonEqual(got json.RawMessage, want string) bool {
	var g, w any
	return json.Unmarshal(got, &g) == nil && json.Unmarshal([]byte(want), &w) == nil && fmt.Sprint(g) == fmt.Sprint(w)
}

// deadLetter makes a dead letter of sink for stored event e.
func deadLetter(sink string, e sluice.Event, n int) sluice.DeadLetter {
	return sluice.DeadLetter{Sink: sink, Event: e, Attempts: n, Error: fmt.Sprintf("attempt %d: 503", n),
		FirstAttemptAt: quarantineBase.Add(time.Duration(n) * time.Microsecond), At: quarantineBase.Add(time.Duration(n) * time.Minute)}
}

func testDeadLetters(t *testing.T, open Opener, _ Features) {
	s := open(t)
	ctx := ctxFor(t)
	// Stored events, with data and metadata that JSON encoding would change.
	evs := []sluice.Event{rejected("e1", "order.placed", 1).Event, rejected("e2", "order.placed", 2).Event, rejected("e3", "order.paid", 3).Event}
	appendOK(t, s, sluice.AppendRequest{Events: evs})
	stored := readAll(t, s, sluice.Filter{})
	if n, err := s.CountDeadLetters(ctx, "hook"); err != nil || n != 0 {
		t.Fatalf("count before any: %d %v", n, err)
	}
	if err := s.AddDeadLetters(ctx, []sluice.DeadLetter{deadLetter("hook", stored[0], 1), deadLetter("hook", stored[1], 2), deadLetter("other", stored[0], 3)}); err != nil {
		t.Fatalf("add: %v", err)
	}
	if err := s.AddDeadLetters(ctx, []sluice.DeadLetter{deadLetter("hook", stored[2], 4)}); err != nil {
		t.Fatalf("add: %v", err)
	}
	all := listDeadLetters(t, s, sluice.DeadLetterQuery{Sink: "hook"})
	sameDeadLetters(t, all, []sluice.DeadLetter{deadLetter("hook", stored[0], 1), deadLetter("hook", stored[1], 2), deadLetter("hook", stored[2], 4)})
	if n, err := s.CountDeadLetters(ctx, "hook"); err != nil || n != 3 {
		t.Fatalf("count: %d %v, want 3", n, err)
	}
	// Paging by Seq, and by id.
	page := listDeadLetters(t, s, sluice.DeadLetterQuery{Sink: "hook", After: all[0].Seq, Limit: 1})
	sameDeadLetters(t, page, all[1:2])
	byID := listDeadLetters(t, s, sluice.DeadLetterQuery{Sink: "hook", IDs: []string{"e3", "e1", "missing"}})
	sameDeadLetters(t, byID, []sluice.DeadLetter{all[0], all[2]})
	// The same event dead-lettered again replaces its row, with a new seq;
	// of a batch that names it twice, the last counts.
	again := deadLetter("hook", stored[0], 9)
	if err := s.AddDeadLetters(ctx, []sluice.DeadLetter{deadLetter("hook", stored[0], 8), again}); err != nil {
		t.Fatalf("add again: %v", err)
	}
	all2 := listDeadLetters(t, s, sluice.DeadLetterQuery{Sink: "hook"})
	sameDeadLetters(t, all2, []sluice.DeadLetter{all[1], all[2], again})
	if all2[2].Seq <= all[2].Seq {
		t.Fatalf("a replaced dead letter kept seq %d, want one above %d", all2[2].Seq, all[2].Seq)
	}
	// Deleting is per sink: the other sink's dead letter of e1 stays.
	if err := s.DeleteDeadLetters(ctx, "hook", []int64{all2[0].Seq, all2[2].Seq}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	sameDeadLetters(t, listDeadLetters(t, s, sluice.DeadLetterQuery{Sink: "hook"}), all2[1:2])
	other := listDeadLetters(t, s, sluice.DeadLetterQuery{Sink: "other"})
	sameDeadLetters(t, other, []sluice.DeadLetter{deadLetter("other", stored[0], 3)})
	if err := s.DeleteDeadLetters(ctx, "other", []int64{all2[1].Seq}); err != nil {
		t.Fatalf("delete another sink's seq: %v", err)
	}
	if n, _ := s.CountDeadLetters(ctx, "hook"); n != 1 {
		t.Fatalf("deleting through another sink's name removed hook's dead letter (%d left)", n)
	}
}

func listDeadLetters(tb testing.TB, s sluice.DeadLetters, q sluice.DeadLetterQuery) []sluice.DeadLetter {
	tb.Helper()
	ds, err := s.ListDeadLetters(ctxFor(tb), q)
	if err != nil {
		tb.Fatalf("list dead letters %+v: %v", q, err)
	}
	return ds
}

// sameDeadLetters fails the test unless got holds want's dead letters in
// order, the events byte for byte as stored, with increasing Seqs and times
// in UTC.
func sameDeadLetters(tb testing.TB, got, want []sluice.DeadLetter) {
	tb.Helper()
	ids := func(ds []sluice.DeadLetter) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.Sink + "/" + d.Event.ID
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		tb.Fatalf("dead letters %v, want %v", ids(got), ids(want))
	}
	for i, g := range got {
		w := want[i]
		if ge, we := g.Event.AppendJSON(nil), w.Event.AppendJSON(nil); string(ge) != string(we) {
			tb.Fatalf("dead letter %d: event\n%s\nwant\n%s", i, ge, we)
		}
		if g.Attempts != w.Attempts || g.Error != w.Error || !g.FirstAttemptAt.Equal(w.FirstAttemptAt) || !g.At.Equal(w.At) ||
			g.At.Location() != time.UTC || g.FirstAttemptAt.Location() != time.UTC {
			tb.Fatalf("dead letter %d: %+v, want %+v (times in UTC)", i, g, w)
		}
		if g.Seq <= 0 || i > 0 && g.Seq <= got[i-1].Seq {
			tb.Fatalf("dead letter %d: seq %d, want increasing seqs above 0", i, g.Seq)
		}
	}
}
