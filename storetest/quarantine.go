package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// quarantineBase is when the first of the tests' rejected events was
// quarantined.
var quarantineBase = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// rejected makes rejected event n, quarantined n minutes and n microseconds
// (the precision every store keeps) after quarantineBase. Its data has the
// spacing and characters that JSON encoding would change; even events have
// metadata.
func rejected(id, typ string, n int) sluice.Quarantined {
	q := sluice.Quarantined{
		Event: sluice.Event{
			ID: id, Type: typ, Stream: fmt.Sprintf("%s-%d", typ, n), Source: "shop", Time: "2024-05-01T10:00:00.5+02:00",
			Data: json.RawMessage(fmt.Sprintf(` {"n": %d,  "note": "<&>\u00e9", "price": -1.50} `, n)),
		},
		Reasons: []sluice.Violation{{Path: "/data/price", Keyword: "minimum", Message: "must be >= 0"}},
		Key:     "key-1",
		At:      quarantineBase.Add(time.Duration(n) * (time.Minute + time.Microsecond)),
	}
	if n%2 == 0 {
		q.Event.Metadata = json.RawMessage(`{ "trace":"t-1" }`)
	}
	return q
}

func addQuarantined(tb testing.TB, s sluice.Quarantine, qs ...sluice.Quarantined) {
	tb.Helper()
	if err := s.AddQuarantined(ctxFor(tb), qs); err != nil {
		tb.Fatalf("add quarantined: %v", err)
	}
}

func listQuarantined(tb testing.TB, s sluice.Quarantine, q sluice.QuarantineQuery) []sluice.Quarantined {
	tb.Helper()
	qs, err := s.ListQuarantined(ctxFor(tb), q)
	if err != nil {
		tb.Fatalf("list quarantined %+v: %v", q, err)
	}
	return qs
}

// quarantinedIDs lists the events' ids.
func quarantinedIDs(qs []sluice.Quarantined) []string {
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = q.Event.ID
	}
	return out
}

// sameQuarantined fails the test unless got holds want's events in order,
// every field as given, with increasing Seqs, times in UTC.
func sameQuarantined(tb testing.TB, got, want []sluice.Quarantined) {
	tb.Helper()
	if !equal(quarantinedIDs(got), quarantinedIDs(want)) {
		tb.Fatalf("quarantined %v, want %v", quarantinedIDs(got), quarantinedIDs(want))
	}
	for i, g := range got {
		w := want[i]
		ge, we := g.Event, w.Event
		if ge.Type != we.Type || ge.Stream != we.Stream || ge.Source != we.Source || ge.Time != we.Time ||
			string(ge.Data) != string(we.Data) || string(ge.Metadata) != string(we.Metadata) {
			tb.Fatalf("event %s: %+v, want %+v", we.ID, ge, we)
		}
		if !slices.Equal(g.Reasons, w.Reasons) || g.Key != w.Key || !g.At.Equal(w.At) || g.At.Location() != time.UTC {
			tb.Fatalf("event %s: reasons %v key %q at %v, want %v %q %v (UTC)", we.ID, g.Reasons, g.Key, g.At, w.Reasons, w.Key, w.At)
		}
		if g.Seq <= 0 || i > 0 && g.Seq <= got[i-1].Seq {
			tb.Fatalf("event %s: seq %d after %d, want increasing seqs above 0", we.ID, g.Seq, got[max(i-1, 0)].Seq)
		}
	}
}

// pick returns the elements of qs at these indexes.
func pick(qs []sluice.Quarantined, indexes ...int) []sluice.Quarantined {
	out := make([]sluice.Quarantined, len(indexes))
	for i, j := range indexes {
		out[i] = qs[j]
	}
	return out
}

func testQuarantine(t *testing.T, open Opener, _ Features) {
	s := open(t)
	ctx := ctxFor(t)
	appendOK(t, s, sluice.AppendRequest{Events: events("order.placed", "", 2)})
	logBefore := readAll(t, s, sluice.Filter{})

	var in []sluice.Quarantined
	for i := range 6 {
		typ := "order.placed"
		if i%2 == 1 {
			typ = "user.signed_up"
		}
		in = append(in, rejected(fmt.Sprintf("q-%d", i), typ, i))
	}
	in[5].Reasons = append(in[5].Reasons, sluice.Violation{Path: "/type", Message: "no schema"})
	in[5].Key = ""
	addQuarantined(t, s, in...)
	all := listQuarantined(t, s, sluice.QuarantineQuery{})
	sameQuarantined(t, all, in)
	seq := map[string]int64{}
	for _, q := range all {
		seq[q.Event.ID] = q.Seq
	}

	for _, tc := range []struct {
		name string
		q    sluice.QuarantineQuery
		want []int // indexes into in
	}{
		{"Type", sluice.QuarantineQuery{Types: []string{"user.signed_up"}}, []int{1, 3, 5}},
		{"Types", sluice.QuarantineQuery{Types: []string{"user.signed_up", "nope", "order.placed"}}, []int{0, 1, 2, 3, 4, 5}},
		{"UnknownType", sluice.QuarantineQuery{Types: []string{"nope"}}, nil},
		{"IDs", sluice.QuarantineQuery{IDs: []string{"q-4", "nope", "q-0"}}, []int{0, 4}},
		{"SinceUntil", sluice.QuarantineQuery{Since: in[1].At, Until: in[3].At}, []int{1, 2}},
		{"SinceMicrosecondLater", sluice.QuarantineQuery{Since: in[1].At.Add(time.Microsecond)}, []int{2, 3, 4, 5}},
		{"UntilMicrosecondLater", sluice.QuarantineQuery{Until: in[1].At.Add(time.Microsecond)}, []int{0, 1}},
		{"After", sluice.QuarantineQuery{After: seq["q-3"]}, []int{4, 5}},
		{"Limit", sluice.QuarantineQuery{Limit: 2}, []int{0, 1}},
		{"TypeSince", sluice.QuarantineQuery{Types: []string{"order.placed"}, Since: in[2].At}, []int{2, 4}},
		{"TypeAfterLimit", sluice.QuarantineQuery{Types: []string{"user.signed_up"}, After: seq["q-1"], Limit: 1}, []int{3}},
		{"IDsTypes", sluice.QuarantineQuery{IDs: []string{"q-0", "q-1"}, Types: []string{"user.signed_up"}}, []int{1}},
	} {
		sameQuarantined(t, listQuarantined(t, s, tc.q), pick(in, tc.want...))
	}

	// Paging by Seq visits every event once, in order.
	var paged []sluice.Quarantined
	for after := int64(0); ; {
		page := listQuarantined(t, s, sluice.QuarantineQuery{After: after, Limit: 4})
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Seq
	}
	sameQuarantined(t, paged, in)

	// An event replaces the one of its id: a new seq, the new reasons.
	again := rejected("q-2", "user.signed_up", 9)
	again.Reasons = []sluice.Violation{{Path: "/data", Keyword: "required", Message: "missing properties: id"}}
	again.Key = "key-2"
	addQuarantined(t, s, again)
	all = listQuarantined(t, s, sluice.QuarantineQuery{})
	sameQuarantined(t, all, append(pick(in, 0, 1, 3, 4, 5), again))
	if all[len(all)-1].Seq <= seq["q-5"] {
		t.Fatalf("replacing event has seq %d, want above %d", all[len(all)-1].Seq, seq["q-5"])
	}
	sameQuarantined(t, listQuarantined(t, s, sluice.QuarantineQuery{Types: []string{"order.placed"}}), pick(in, 0, 4))

	// Within one call the later event of an id wins; At defaults to now.
	first, second := rejected("dup", "order.placed", 0), rejected("dup", "order.placed", 1)
	second.At = time.Time{}
	addQuarantined(t, s, first, second)
	dup := listQuarantined(t, s, sluice.QuarantineQuery{IDs: []string{"dup"}})
	if len(dup) != 1 || dup[0].Event.Stream != second.Event.Stream {
		t.Fatalf("an id given twice in one call: %+v, want only the second event", dup)
	}
	if at := dup[0].At; at.Location() != time.UTC || time.Since(at).Abs() > time.Hour {
		t.Fatalf("event without a time quarantined at %v, want now in UTC", at)
	}

	if err := s.DeleteQuarantined(ctx, []int64{seq["q-0"], seq["q-4"], dup[0].Seq, 1 << 40}); err != nil {
		t.Fatalf("delete quarantined: %v", err)
	}
	if err := s.DeleteQuarantined(ctx, nil); err != nil {
		t.Fatalf("delete nothing: %v", err)
	}
	sameQuarantined(t, listQuarantined(t, s, sluice.QuarantineQuery{}), append(pick(in, 1, 3, 5), again))

	// The log knows nothing of the quarantine.
	if h := head(t, s); h != 2 {
		t.Fatalf("head %d, want 2", h)
	}
	if logAfter := readAll(t, s, sluice.Filter{}); !equal(positions(logAfter), positions(logBefore)) {
		t.Fatalf("log holds %v, want %v", positions(logAfter), positions(logBefore))
	}
}

func testQuarantineTrim(t *testing.T, open Opener, _ Features) {
	s := open(t)
	var in []sluice.Quarantined
	for i := range 10 {
		in = append(in, rejected(fmt.Sprintf("t-%d", i), "order.placed", i))
	}
	addQuarantined(t, s, in...)
	trim := func(maxCount int, olderThan time.Time, removed int, left ...int) {
		t.Helper()
		n, err := s.TrimQuarantine(ctxFor(t), maxCount, olderThan)
		if err != nil || n != removed {
			t.Fatalf("trim to %d, before %v: removed %d (%v), want %d", maxCount, olderThan, n, err, removed)
		}
		sameQuarantined(t, listQuarantined(t, s, sluice.QuarantineQuery{}), pick(in, left...))
	}
	trim(0, time.Time{}, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
	trim(7, time.Time{}, 3, 3, 4, 5, 6, 7, 8, 9)
	trim(0, in[5].At, 2, 5, 6, 7, 8, 9)
	trim(3, in[6].At, 2, 7, 8, 9) // t-5 by age, then t-6 by count
	trim(3, time.Time{}, 0, 7, 8, 9)

	// A batch of thousands in one call; a listing without a limit returns 100.
	bulk := make([]sluice.Quarantined, 2000)
	for i := range bulk {
		bulk[i] = rejected(fmt.Sprintf("b-%d", i), "page.viewed", i)
	}
	addQuarantined(t, s, bulk...)
	if got := listQuarantined(t, s, sluice.QuarantineQuery{}); len(got) != 100 || got[0].Event.ID != "t-7" || got[99].Event.ID != "b-96" {
		t.Fatalf("default listing: %d events from %v, want 100 from t-7 to b-96", len(got), quarantinedIDs(got[:min(len(got), 1)]))
	}
	n, err := s.TrimQuarantine(ctxFor(t), 5, time.Time{})
	if err != nil || n != 1998 {
		t.Fatalf("trim to 5: removed %d (%v), want 1998", n, err)
	}
	sameQuarantined(t, listQuarantined(t, s, sluice.QuarantineQuery{}), bulk[1995:])
}
