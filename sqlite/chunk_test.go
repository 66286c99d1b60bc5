package sqlite

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestChunk_RoundTrip(t *testing.T) {
	recorded := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	in := []sluice.Event{
		{ID: "a", Stream: "order-1", Type: "order.placed", Source: "web", Time: "2026-11-23T10:00:00Z", Data: json.RawMessage(`{"x": 1}`), Metadata: json.RawMessage(`{"k":"v"}`), Version: 7},
		{ID: "b", Stream: "s", Type: "t", Data: json.RawMessage(`"é"`), Version: 1},
	}
	out, err := decodeChunk(encodeChunk(nil, in, recorded), 41)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("decoded %d events, want 2", len(out))
	}
	for i, e := range out {
		w := in[i]
		if e.Position != sluice.Position(41+i) || e.Version != w.Version || e.ID != w.ID || e.Stream != w.Stream || e.Type != w.Type ||
			e.Source != w.Source || e.Time != w.Time || string(e.Data) != string(w.Data) || string(e.Metadata) != string(w.Metadata) || !e.RecordedAt.Equal(recorded) {
			t.Fatalf("event %d: got %+v, want %+v", i, e, w)
		}
	}
	if out[1].Metadata != nil {
		t.Fatalf("empty metadata decoded as %q, want nil", out[1].Metadata)
	}
}

// FuzzDecodeChunk: whatever the bytes, decoding returns events or an
// error and never panics; decoded events encode to a chunk that decodes to
// the same events.
func FuzzDecodeChunk(f *testing.F) {
	f.Add(encodeChunk(nil, []sluice.Event{{ID: "a", Stream: "s", Type: "t", Data: []byte(`1`), Version: 1}}, time.Unix(0, 5)))
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 255, 255, 255, 255, 15})
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := decodeChunk(b, 1)
		if err != nil || len(evs) == 0 {
			return
		}
		again, err := decodeChunk(encodeChunk(nil, evs, evs[0].RecordedAt), 1)
		if err != nil {
			t.Fatalf("a re-encoded chunk does not decode: %v", err)
		}
		for i := range evs {
			a, b := again[i], evs[i]
			if a.ID != b.ID || a.Stream != b.Stream || a.Version != b.Version || string(a.Data) != string(b.Data) || string(a.Metadata) != string(b.Metadata) {
				t.Fatalf("event %d changed in a round trip: %+v, was %+v", i, a, b)
			}
		}
	})
}
