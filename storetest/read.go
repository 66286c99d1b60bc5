package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func testReadStream(t *testing.T, open Opener, _ Features) {
	s := open(t)
	appendOK(t, s,
		sluice.AppendRequest{Stream: "order-1", Events: events("placed", "", 10)},
		sluice.AppendRequest{Stream: "order-2", Events: events("placed", "", 1)},
	)
	tests := []struct {
		name string
		opts sluice.ReadStreamOptions
		want []uint64
	}{
		{"ForwardFromStart", sluice.ReadStreamOptions{Limit: 3}, []uint64{1, 2, 3}},
		{"ForwardFromVersion", sluice.ReadStreamOptions{FromVersion: 8, Limit: 5}, []uint64{8, 9, 10}},
		{"ForwardPastEnd", sluice.ReadStreamOptions{FromVersion: 11, Limit: 5}, []uint64{}},
		{"BackwardFromEnd", sluice.ReadStreamOptions{Backward: true, Limit: 3}, []uint64{10, 9, 8}},
		{"BackwardFromVersion", sluice.ReadStreamOptions{FromVersion: 2, Backward: true, Limit: 5}, []uint64{2, 1}},
	}
	for _, tt := range tests {
		if got := versions(readStream(t, s, "order-1", tt.opts)); !equal(got, tt.want) {
			t.Errorf("%s: versions %v, want %v", tt.name, got, tt.want)
		}
	}
	if _, err := s.ReadStream(ctxFor(t), "order-3", sluice.ReadStreamOptions{Limit: 1}); !errors.Is(err, sluice.ErrStreamNotFound) {
		t.Fatalf("missing stream: got %v, want ErrStreamNotFound", err)
	}
}

func testReadLog(t *testing.T, open Opener, _ Features) {
	s := open(t)
	appendOK(t, s, sluice.AppendRequest{Events: []sluice.Event{
		event("order.placed", "order-1", 0),  // 1
		event("page.viewed", "page", 0),      // 2
		event("order.paid", "order-1", 0),    // 3
		event("order.placed", "orders-9", 0), // 4
		event("order.placed", "order", 0),    // 5
		event("order.placed", "Order-2", 0),  // 6
		event("order.placed", "order_x", 0),  // 7
		event("order.placed", "order-2", 0),  // 8
	}})
	tests := []struct {
		name   string
		after  sluice.Position
		filter sluice.Filter
		limit  int
		want   []sluice.Position
	}{
		{"All", 0, sluice.Filter{}, 100, []sluice.Position{1, 2, 3, 4, 5, 6, 7, 8}},
		{"AfterAndLimit", 2, sluice.Filter{}, 3, []sluice.Position{3, 4, 5}},
		{"AtHead", 8, sluice.Filter{}, 3, []sluice.Position{}},
		{"Types", 0, sluice.Filter{Types: []string{"order.paid", "page.viewed"}}, 100, []sluice.Position{2, 3}},
		{"StreamPrefix", 0, sluice.Filter{StreamPrefix: "order-"}, 100, []sluice.Position{1, 3, 8}},
		{"StreamPrefixCaseSensitive", 0, sluice.Filter{StreamPrefix: "Order"}, 100, []sluice.Position{6}},
		{"StreamPrefixWildcardsAreLiteral", 0, sluice.Filter{StreamPrefix: "order_"}, 100, []sluice.Position{7}},
		{"Category", 0, sluice.Filter{Category: "order"}, 100, []sluice.Position{1, 3, 5, 8}},
		{"CategoryAndTypeAndLimit", 1, sluice.Filter{Category: "order", Types: []string{"order.placed"}}, 1, []sluice.Position{5}},
	}
	for _, tt := range tests {
		evs, err := s.ReadLog(ctxFor(t), tt.after, tt.filter, tt.limit)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := positions(evs); !equal(got, tt.want) {
			t.Errorf("%s: positions %v, want %v", tt.name, got, tt.want)
		}
		for _, e := range evs {
			if !tt.filter.Match(&e) {
				t.Errorf("%s: event %d does not match the filter", tt.name, e.Position)
			}
		}
	}
}

func testListStreams(t *testing.T, open Opener, _ Features) {
	s := open(t)
	for _, name := range []string{"user-3", "order-2", "order-1", "order-10", "orderly", "Order-5"} {
		appendOK(t, s, sluice.AppendRequest{Stream: name, Events: events("e", "", 2)})
	}
	list := func(prefix, after string, limit int) []string {
		t.Helper()
		infos, err := s.ListStreams(ctxFor(t), prefix, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, len(infos))
		for i, si := range infos {
			names[i] = si.Stream
			if si.Version != 2 || si.LastPosition == 0 {
				t.Fatalf("stream %+v, want version 2 and its last position", si)
			}
		}
		return names
	}
	if got := list("order-", "", 2); !equal(got, []string{"order-1", "order-10"}) {
		t.Fatalf("first page %v", got)
	}
	if got := list("order-", "order-10", 2); !equal(got, []string{"order-2"}) {
		t.Fatalf("second page %v", got)
	}
	if got := list("", "", 100); !equal(got, []string{"Order-5", "order-1", "order-10", "order-2", "orderly", "user-3"}) {
		t.Fatalf("all streams %v", got)
	}
	if infos, err := s.ListStreams(ctxFor(t), "order-1", "", 10); err != nil || len(infos) != 2 || infos[1].LastPosition != 8 {
		t.Fatalf("order-1*: %+v %v, want order-1 and order-10 (last position 8)", infos, err)
	}
}

func testWaitHead(t *testing.T, open Opener, f Features) {
	s := open(t)
	appendOK(t, s, sluice.AppendRequest{Events: events("e", "", 2)})
	if h, err := s.WaitHead(ctxFor(t), 1); err != nil || h != 2 {
		t.Fatalf("wait below head: %d %v, want 2 at once", h, err)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.WaitHead(short, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait at head with nothing written: %v, want the context's deadline", err)
	}

	waiters := []sluice.Store{s}
	if f.SharedAccess {
		waiters = append(waiters, open(t)) // woken by another process's commit
	}
	woke := make(chan sluice.Position, len(waiters))
	for _, w := range waiters {
		go func() {
			h, err := w.WaitHead(ctxFor(t), 2)
			if err != nil {
				t.Errorf("wait: %v", err)
			}
			woke <- h
		}()
	}
	appendOK(t, s, sluice.AppendRequest{Events: events("e", "", 1)})
	for range waiters {
		if h := <-woke; h != 3 {
			t.Fatalf("woken with head %d, want 3", h)
		}
	}
}
