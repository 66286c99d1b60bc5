package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func testAppendStream(t *testing.T, open Opener, _ Features) {
	s := open(t)
	before := time.Now().Add(-time.Second)
	res := appendOK(t, s, sluice.AppendRequest{Stream: "order-1", Expected: sluice.NoStream, Events: events("order.placed", "", 3)})
	for i, a := range res[0].Events {
		if a.Position != sluice.Position(i+1) || a.Version != uint64(i+1) || a.Duplicate || a.ID == "" {
			t.Fatalf("event %d: got %+v, want position and version %d with an assigned id", i, a, i+1)
		}
	}
	if res[0].Position() != 3 {
		t.Fatalf("result position %d, want 3", res[0].Position())
	}
	got := readStream(t, s, "order-1", sluice.ReadStreamOptions{Limit: 10})
	if !equal(versions(got), []uint64{1, 2, 3}) {
		t.Fatalf("versions %v, want [1 2 3]", versions(got))
	}
	for i, e := range got {
		if e.ID != res[0].Events[i].ID || e.Stream != "order-1" || e.Type != "order.placed" {
			t.Fatalf("stored event %d is %+v", i, e)
		}
		if e.RecordedAt.Before(before) || e.RecordedAt.After(time.Now().Add(time.Second)) {
			t.Fatalf("recorded_at %v is not the commit time", e.RecordedAt)
		}
	}

	t.Run("EventStreamMustMatch", func(t *testing.T) {
		_, err := s.Append(ctxFor(t), []sluice.AppendRequest{{Stream: "order-1", Events: []sluice.Event{event("x", "order-2", 0)}}})
		var ee *sluice.EventError
		if !errors.As(err, &ee) || ee.Field != "stream" {
			t.Fatalf("got %v, want an *EventError for field stream", err)
		}
	})
	t.Run("IdempotentRetry", func(t *testing.T) {
		// The same append sent again (its answer was lost) is reported as
		// duplicates, though the stream has moved past its expected version.
		retry := make([]sluice.Event, 3)
		for i := range retry {
			retry[i] = event("order.placed", "", i)
			retry[i].ID = res[0].Events[i].ID
		}
		again := appendOK(t, s, sluice.AppendRequest{Stream: "order-1", Expected: sluice.NoStream, Events: retry})
		for i, a := range again[0].Events {
			if !a.Duplicate || a.Position != res[0].Events[i].Position {
				t.Fatalf("retried event %d: %+v, want a duplicate of position %d", i, a, res[0].Events[i].Position)
			}
		}
		if h := head(t, s); h != 3 {
			t.Fatalf("head %d after a retry, want 3", h)
		}
	})
}

func testExpectedVersion(t *testing.T, open Opener, _ Features) {
	s := open(t)
	appendOK(t, s, sluice.AppendRequest{Stream: "acct-1", Events: events("opened", "", 2)})
	tests := []struct {
		name     string
		stream   string
		expected sluice.ExpectedVersion
		current  uint64
		ok       bool
	}{
		{"AnyOnExisting", "acct-1", sluice.AnyVersion, 2, true},
		{"AnyOnNew", "acct-any", sluice.AnyVersion, 0, true},
		{"NoStreamOnNew", "acct-new", sluice.NoStream, 0, true},
		{"NoStreamOnExisting", "acct-1", sluice.NoStream, 2, false},
		{"ExistsOnExisting", "acct-1", sluice.StreamExists, 2, true},
		{"ExistsOnNew", "acct-missing", sluice.StreamExists, 0, false},
		{"ExactMatches", "acct-1", sluice.ExactVersion(2), 2, true},
		{"ExactBehind", "acct-1", sluice.ExactVersion(1), 2, false},
		{"ExactAhead", "acct-1", sluice.ExactVersion(7), 2, false},
		{"ExactOnNew", "acct-none", sluice.ExactVersion(1), 0, false},
	}
	for _, tt := range tests {
		// A passing case would move acct-1, so it runs on a stream of its
		// own brought to the same version.
		stream := tt.stream
		if tt.ok && tt.current > 0 {
			stream = tt.name
			appendOK(t, s, sluice.AppendRequest{Stream: stream, Events: events("opened", "", int(tt.current))})
		}
		h := head(t, s)
		res, err := s.Append(ctxFor(t), []sluice.AppendRequest{{Stream: stream, Expected: tt.expected, Events: events("deposited", "", 2)}})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.ok {
			if res[0].Err != nil {
				t.Fatalf("%s: %v", tt.name, res[0].Err)
			}
			if v := res[0].Events[1].Version; v != tt.current+2 {
				t.Fatalf("%s: version %d, want %d", tt.name, v, tt.current+2)
			}
			continue
		}
		wantWrongVersion(t, res[0].Err, tt.current)
		if len(res[0].Events) != 0 {
			t.Fatalf("%s: a failed request reports events %+v", tt.name, res[0].Events)
		}
		if got := head(t, s); got != h {
			t.Fatalf("%s: head moved from %d to %d on a failed append", tt.name, h, got)
		}
	}
}

func testRequestsFailAlone(t *testing.T, open Opener, _ Features) {
	s := open(t)
	appendOK(t, s, sluice.AppendRequest{Stream: "cart-1", Events: events("added", "", 1)})
	res, err := s.Append(ctxFor(t), []sluice.AppendRequest{
		{Stream: "cart-2", Expected: sluice.NoStream, Events: events("added", "", 2)},
		{Stream: "cart-1", Expected: sluice.ExactVersion(5), Events: events("added", "", 2)},
		{Stream: "cart-2", Expected: sluice.ExactVersion(2), Events: events("added", "", 1)},
		{Events: []sluice.Event{event("page.viewed", "", 1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantWrongVersion(t, res[1].Err, 1)
	for _, i := range []int{0, 2, 3} {
		if res[i].Err != nil {
			t.Fatalf("request %d: %v", i, res[i].Err)
		}
	}
	if v := res[2].Events[0].Version; v != 3 {
		t.Fatalf("third request sees the first one's events: version %d, want 3", v)
	}
	if got := positions(readAll(t, s, sluice.Filter{})); !equal(got, []sluice.Position{1, 2, 3, 4, 5}) {
		t.Fatalf("log positions %v, want 1..5 with nothing of the failed request", got)
	}
	if got := versions(readStream(t, s, "cart-1", sluice.ReadStreamOptions{Limit: 10})); !equal(got, []uint64{1}) {
		t.Fatalf("cart-1 versions %v, want [1]", got)
	}
}

func testInvalidEvents(t *testing.T, open Opener, _ Features) {
	s := open(t)
	appendOK(t, s, sluice.AppendRequest{Events: events("ok", "", 1)})
	big := sluice.Event{Type: "big", Data: json.RawMessage(`"` + strings.Repeat("x", sluice.DefaultMaxEventBytes) + `"`)}
	tests := []struct {
		name  string
		event sluice.Event
		field string
	}{
		{"TypeMissing", sluice.Event{Data: json.RawMessage(`1`)}, "type"},
		{"TypeAlphabet", sluice.Event{Type: "page viewed", Data: json.RawMessage(`1`)}, "type"},
		{"TypeTooLong", sluice.Event{Type: strings.Repeat("t", 129), Data: json.RawMessage(`1`)}, "type"},
		{"StreamTooLong", sluice.Event{Type: "t", Stream: strings.Repeat("s", 257), Data: json.RawMessage(`1`)}, "stream"},
		{"StreamControl", sluice.Event{Type: "t", Stream: "a\nb", Data: json.RawMessage(`1`)}, "stream"},
		{"StreamNotUTF8", sluice.Event{Type: "t", Stream: "a\xffb", Data: json.RawMessage(`1`)}, "stream"},
		{"StreamDotDot", sluice.Event{Type: "t", Stream: "..", Data: json.RawMessage(`1`)}, "stream"},
		{"IDTooLong", sluice.Event{ID: strings.Repeat("i", 129), Type: "t", Data: json.RawMessage(`1`)}, "id"},
		{"DataMissing", sluice.Event{Type: "t"}, "data"},
		{"DataNotJSON", sluice.Event{Type: "t", Data: json.RawMessage(`{"a":`)}, "data"},
		{"MetadataNotObject", sluice.Event{Type: "t", Data: json.RawMessage(`1`), Metadata: json.RawMessage(`[1]`)}, "metadata"},
		{"TimeNotRFC3339", sluice.Event{Type: "t", Time: "yesterday", Data: json.RawMessage(`1`)}, "time"},
		{"TooLarge", big, "size"},
	}
	for _, tt := range tests {
		bad := []sluice.Event{event("fine", "", 0), tt.event}
		_, err := s.Append(ctxFor(t), []sluice.AppendRequest{
			{Events: events("fine", "", 2)},
			{Events: bad},
		})
		var ee *sluice.EventError
		if !errors.As(err, &ee) || !errors.Is(err, sluice.ErrInvalidEvent) {
			t.Fatalf("%s: got %v, want an *EventError", tt.name, err)
		}
		if ee.Index != 1 || ee.Field != tt.field || ee.Reason == "" {
			t.Fatalf("%s: got index %d field %q (%v), want index 1 field %q", tt.name, ee.Index, ee.Field, ee, tt.field)
		}
		if h := head(t, s); h != 1 {
			t.Fatalf("%s: head %d, want 1: nothing of the call may be written", tt.name, h)
		}
	}
}

func testAppendBatch(t *testing.T, open Opener, _ Features) {
	s := open(t)
	data := json.RawMessage("{ \"z\": 1,\n \"a\": [\"é\", 2.50, null] }")
	batch := []sluice.Event{
		{Type: "page.viewed", Data: data, Source: "web", Time: "2026-11-23T10:00:00.123+01:00", Metadata: json.RawMessage(`{"correlation_id":"c1"}`)},
		event("order.placed", "order-7", 1),
		event("page.viewed", "", 2),
		event("order.paid", "order-7", 3),
	}
	res := appendOK(t, s, sluice.AppendRequest{Events: batch})
	wantVersions := []uint64{1, 1, 2, 2}
	for i, a := range res[0].Events {
		if a.Position != sluice.Position(i+1) || a.Version != wantVersions[i] {
			t.Fatalf("event %d: position %d version %d, want %d and %d", i, a.Position, a.Version, i+1, wantVersions[i])
		}
	}
	got := readAll(t, s, sluice.Filter{})
	if len(got) != 4 {
		t.Fatalf("read %d events, want 4", len(got))
	}
	first := got[0]
	if first.Stream != "page.viewed" {
		t.Fatalf("stream %q, want it to default to the type", first.Stream)
	}
	if string(first.Data) != string(data) || string(first.Metadata) != `{"correlation_id":"c1"}` {
		t.Fatalf("data %q metadata %q are not byte for byte as given", first.Data, first.Metadata)
	}
	if first.Source != "web" || first.Time != "2026-11-23T10:00:00.123+01:00" {
		t.Fatalf("source %q time %q, want them as given", first.Source, first.Time)
	}
	if len(got[1].Metadata) != 0 {
		t.Fatalf("metadata %q, want none", got[1].Metadata)
	}
}

func testDuplicates(t *testing.T, open Opener, _ Features) {
	s := open(t)
	a, b := event("t", "", 1), event("t", "", 2)
	a.ID, b.ID = "evt-a", "evt-b"
	first := appendOK(t, s, sluice.AppendRequest{Events: []sluice.Event{a, b, a}})
	if o := first[0].Events; o[0].Duplicate || o[1].Duplicate || !o[2].Duplicate || o[2].Position != o[0].Position {
		t.Fatalf("within one batch: %+v, want the second evt-a reported as a duplicate of the first", o)
	}
	c := event("t", "", 3)
	c.ID = "evt-c"
	second := appendOK(t, s,
		sluice.AppendRequest{Events: []sluice.Event{b, c}},
		sluice.AppendRequest{Events: []sluice.Event{c}},
	)
	if o := second[0].Events; !o[0].Duplicate || o[0].Position != 2 || o[0].Version != 2 || o[1].Duplicate || o[1].Position != 3 {
		t.Fatalf("across batches: %+v, want evt-b a duplicate at position 2 and evt-c new at 3", o)
	}
	if o := second[1].Events; !o[0].Duplicate || o[0].Position != 3 {
		t.Fatalf("across requests of one call: %+v, want evt-c a duplicate at position 3", o)
	}
	got := readAll(t, s, sluice.Filter{})
	if len(got) != 3 {
		t.Fatalf("log holds %d events, want 3", len(got))
	}
	// A stream append with some new and some known ids stores the new ones
	// under its expected version.
	d := event("t", "", 4)
	d.ID = "evt-d"
	res := appendOK(t, s, sluice.AppendRequest{Stream: "t", Expected: sluice.ExactVersion(3), Events: []sluice.Event{c, d}})
	if o := res[0].Events; !o[0].Duplicate || o[1].Duplicate || o[1].Version != 4 {
		t.Fatalf("mixed stream append: %+v", o)
	}
}
