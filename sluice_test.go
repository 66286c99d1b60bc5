package sluice_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestParseExpectedVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    sluice.ExpectedVersion
		allows0 bool
		allows3 bool
	}{
		{"", sluice.AnyVersion, true, true},
		{"any", sluice.AnyVersion, true, true},
		{"no_stream", sluice.NoStream, true, false},
		{"0", sluice.NoStream, true, false},
		{"exists", sluice.StreamExists, false, true},
		{"3", sluice.ExactVersion(3), false, true},
		{"4", sluice.ExactVersion(4), false, false},
	}
	for _, tt := range tests {
		got, err := sluice.ParseExpectedVersion(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%q: got %v %v, want %v", tt.in, got, err, tt.want)
		}
		if got.Allows(0) != tt.allows0 || got.Allows(3) != tt.allows3 {
			t.Errorf("%q: allows 0: %v, 3: %v", tt.in, got.Allows(0), got.Allows(3))
		}
	}
	for _, bad := range []string{"-1", "x", "1.5", "ANY", "99999999999999999999"} {
		if _, err := sluice.ParseExpectedVersion(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func FuzzParseExpectedVersion(f *testing.F) {
	for _, s := range []string{"any", "no_stream", "exists", "0", "17", "-3", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ev, err := sluice.ParseExpectedVersion(s)
		if err != nil {
			return
		}
		again, err := sluice.ParseExpectedVersion(ev.String())
		if err != nil || again != ev {
			t.Fatalf("%q parses to %v, whose String %q parses to %v (%v)", s, ev, ev.String(), again, err)
		}
	})
}

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewID(t *testing.T) {
	prev := ""
	for range 20_000 {
		id := sluice.NewID()
		if !uuidV7.MatchString(id) {
			t.Fatalf("%q is not a UUIDv7", id)
		}
		if id <= prev {
			t.Fatalf("%q after %q: ids of one process must increase", id, prev)
		}
		prev = id
	}
}

// TestPrepare_IDs: the ids Prepare gives a request's events (made
// together, beyond one batch of 64) are UUIDv7 and increase, in the
// events' order and after those made before; the ids sent are kept.
func TestPrepare_IDs(t *testing.T) {
	events := make([]sluice.Event, 300)
	for i := range events {
		events[i] = sluice.Event{Type: "t", Data: []byte(`1`)}
		if i%7 == 3 {
			events[i].ID = "sent-" + strconv.Itoa(i)
		}
	}
	prev := sluice.NewID()
	if err := sluice.DefaultLimits.Prepare([]sluice.AppendRequest{{Events: events}}); err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		if i%7 == 3 {
			if e.ID != "sent-"+strconv.Itoa(i) {
				t.Fatalf("event %d: id %q, sent %q", i, e.ID, "sent-"+strconv.Itoa(i))
			}
			continue
		}
		if !uuidV7.MatchString(e.ID) || e.ID <= prev {
			t.Fatalf("event %d: id %q after %q: want an increasing UUIDv7", i, e.ID, prev)
		}
		prev = e.ID
	}
	if next := sluice.NewID(); next <= prev {
		t.Fatalf("NewID %q after %q", next, prev)
	}
}

func TestFilter_Match(t *testing.T) {
	e := &sluice.Event{Type: "order.placed", Stream: "order-42"}
	tests := []struct {
		f    sluice.Filter
		want bool
	}{
		{sluice.Filter{}, true},
		{sluice.Filter{Types: []string{"a", "order.placed"}}, true},
		{sluice.Filter{Types: []string{"order.paid"}}, false},
		{sluice.Filter{StreamPrefix: "order-4"}, true},
		{sluice.Filter{StreamPrefix: "Order"}, false},
		{sluice.Filter{Category: "order"}, true},
		{sluice.Filter{Category: "orde"}, false},
		{sluice.Filter{Category: "order", Types: []string{"order.paid"}}, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(e); got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.f, got, tt.want)
		}
	}
	if sluice.Category("order") != "order" || sluice.Category("a-b-c") != "a" {
		t.Error("Category")
	}
}

func TestHeadNotifier(t *testing.T) {
	var n sluice.HeadNotifier
	woke := make(chan sluice.Position)
	go func() {
		h, _ := n.Wait(context.Background(), 5)
		woke <- h
	}()
	n.Publish(3) // not past 5: the waiter sleeps on
	n.Publish(9)
	if h := <-woke; h != 9 {
		t.Fatalf("woken at %d, want 9", h)
	}
	n.Publish(4) // heads never go back
	if h, _ := n.Wait(context.Background(), 8); h != 9 {
		t.Fatalf("head %d, want 9", h)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := n.Wait(ctx, 9); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v, want the deadline", err)
	}
}

// FuzzPrepare: whatever the envelope, Prepare accepts it (and it then keeps
// the rules) or names a field, and never panics.
func FuzzPrepare(f *testing.F) {
	f.Add("", "page.viewed", "", "", `{"a":1}`, ``, 0)
	f.Add("id-1", "t", "order-1", "2026-11-23T10:00:00Z", `[1,2]`, `{"k":1}`, 1)
	f.Add("x", "bad type", "s\n", "yesterday", `{`, `[]`, 2)
	f.Fuzz(func(t *testing.T, id, typ, stream, tm, data, meta string, mode int) {
		req := sluice.AppendRequest{Events: []sluice.Event{{ID: id, Type: typ, Stream: stream, Time: tm, Data: []byte(data), Metadata: []byte(meta)}}}
		if mode%2 == 1 {
			req.Stream = stream
			req.Events[0].Stream = ""
		}
		reqs := []sluice.AppendRequest{req}
		err := sluice.DefaultLimits.Prepare(reqs)
		var ee *sluice.EventError
		if err != nil {
			if !errors.As(err, &ee) || ee.Field == "" || ee.Reason == "" {
				t.Fatalf("error %v is not an *EventError naming a field", err)
			}
			return
		}
		e := reqs[0].Events[0]
		if e.ID == "" || e.Stream == "" || len(e.Type) == 0 || len(e.Stream) > sluice.MaxStreamBytes || strings.ContainsAny(e.Type, " \n") {
			t.Fatalf("accepted an event that breaks the rules: %+v", e)
		}
	})
}

func TestLimits_JSONChecked(t *testing.T) {
	checked := sluice.Limits{JSONChecked: true}
	bad := []sluice.AppendRequest{{Events: []sluice.Event{{Type: "t", Data: []byte(`{`)}}}}
	if err := checked.Prepare(bad); err != nil {
		t.Fatalf("JSONChecked: the caller vouches for the data; got %v", err)
	}
	notObject := []sluice.AppendRequest{{Events: []sluice.Event{{Type: "t", Data: []byte(`1`), Metadata: []byte(`[1]`)}}}}
	var ee *sluice.EventError
	if err := checked.Prepare(notObject); !errors.As(err, &ee) || ee.Field != "metadata" {
		t.Fatalf("metadata must still be an object: got %v", err)
	}
}

// TestErrStorageFull: a full disk is a kind of unavailable store, and a
// wrapped one is still recognized as full.
func TestErrStorageFull(t *testing.T) {
	err := fmt.Errorf("append: %w: %w", sluice.ErrStorageFull, errors.New("database or disk is full"))
	if !errors.Is(err, sluice.ErrStorageFull) || !errors.Is(err, sluice.ErrUnavailable) {
		t.Fatalf("%v: want ErrStorageFull and ErrUnavailable", err)
	}
	if errors.Is(fmt.Errorf("x: %w", sluice.ErrUnavailable), sluice.ErrStorageFull) {
		t.Fatal("ErrUnavailable matches ErrStorageFull")
	}
}

// TestEvent_AppendJSON: JSON that means what encoding/json's does, with
// data and metadata kept byte for byte.
func TestEvent_AppendJSON(t *testing.T) {
	events := []sluice.Event{
		{ID: "a", Type: "t", Stream: "s", Data: json.RawMessage(`{"x":1}`)},
		{ID: "q\"\\\n\x01é\xff", Type: "t.1", Stream: "order-<1>&", Source: "web", Time: "2026-11-28T10:00:00Z",
			Data: json.RawMessage(`{"x":1}`), Metadata: json.RawMessage(`{"m":true}`), Position: 7, Version: 3,
			RecordedAt: time.Date(2026, 11, 28, 10, 0, 0, 123, time.UTC)},
	}
	for _, e := range events {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got := e.AppendJSON(nil)
		var g, w map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("AppendJSON gives invalid JSON %s: %v", got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("AppendJSON\n got %s\nwant %s", got, want)
		}
	}
	e := sluice.Event{ID: "a", Type: "t", Stream: "s", Data: json.RawMessage(`{ "html": "<b>&</b>" }`)}
	if got := string(e.AppendJSON(nil)); !strings.Contains(got, `"data":{ "html": "<b>&</b>" }`) {
		t.Errorf("data not byte for byte: %s", got)
	}
}

func TestPrepare_SystemStreams(t *testing.T) {
	t.Parallel()
	for _, req := range []sluice.AppendRequest{
		{Events: []sluice.Event{{Type: "key.created", Stream: sluice.KeysStream, Data: []byte(`{}`)}}},
		{Stream: "$anything", Events: []sluice.Event{{Type: "x", Data: []byte(`{}`)}}},
	} {
		if err := (sluice.Limits{}).Prepare([]sluice.AppendRequest{req}); !errors.Is(err, sluice.ErrInvalidEvent) || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("a client's append to a $ stream: %v, want it refused as reserved", err)
		}
		if err := (sluice.Limits{System: true}).Prepare([]sluice.AppendRequest{req}); err != nil {
			t.Errorf("sluice's own append to a $ stream: %v", err)
		}
	}
	if err := sluice.CheckStream("$keys"); err == nil {
		t.Error("CheckStream accepts $keys")
	}
}
