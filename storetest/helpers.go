package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func ctxFor(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// event returns an event of the given type and stream with a small payload.
func event(typ, stream string, n int) sluice.Event {
	return sluice.Event{Type: typ, Stream: stream, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

// events returns n events of one type and stream.
func events(typ, stream string, n int) []sluice.Event {
	out := make([]sluice.Event, n)
	for i := range out {
		out[i] = event(typ, stream, i)
	}
	return out
}

// appendOK appends reqs and fails the test on any error, of the call or of
// a request.
func appendOK(tb testing.TB, s sluice.Log, reqs ...sluice.AppendRequest) []sluice.AppendResult {
	tb.Helper()
	res, err := s.Append(ctxFor(tb), reqs)
	if err != nil {
		tb.Fatalf("append: %v", err)
	}
	if len(res) != len(reqs) {
		tb.Fatalf("append: %d results for %d requests", len(res), len(reqs))
	}
	for i, r := range res {
		if r.Err != nil {
			tb.Fatalf("append: request %d: %v", i, r.Err)
		}
		if len(r.Events) != len(reqs[i].Events) {
			tb.Fatalf("append: request %d: %d outcomes for %d events", i, len(r.Events), len(reqs[i].Events))
		}
	}
	return res
}

func head(tb testing.TB, s sluice.Log) sluice.Position {
	tb.Helper()
	h, err := s.Head(ctxFor(tb))
	if err != nil {
		tb.Fatalf("head: %v", err)
	}
	return h
}

// readAll reads the whole log in pages.
func readAll(tb testing.TB, s sluice.Log, f sluice.Filter) []sluice.Event {
	tb.Helper()
	var out []sluice.Event
	var after sluice.Position
	for {
		page, err := s.ReadLog(ctxFor(tb), after, f, 7)
		if err != nil {
			tb.Fatalf("read log: %v", err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Position
	}
}

func readStream(tb testing.TB, s sluice.Log, stream string, opts sluice.ReadStreamOptions) []sluice.Event {
	tb.Helper()
	evs, err := s.ReadStream(ctxFor(tb), stream, opts)
	if err != nil {
		tb.Fatalf("read stream %q: %v", stream, err)
	}
	return evs
}

// versions lists the events' versions.
func versions(evs []sluice.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Version
	}
	return out
}

// positions lists the events' positions.
func positions(evs []sluice.Event) []sluice.Position {
	out := make([]sluice.Position, len(evs))
	for i, e := range evs {
		out[i] = e.Position
	}
	return out
}

func wantWrongVersion(tb testing.TB, err error, current uint64) {
	tb.Helper()
	var wv *sluice.WrongExpectedVersionError
	if !errors.As(err, &wv) || !errors.Is(err, sluice.ErrWrongExpectedVersion) {
		tb.Fatalf("got %v, want a *WrongExpectedVersionError", err)
	}
	if wv.Current != current {
		tb.Fatalf("wrong expected version reports current %d, want %d", wv.Current, current)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
