package bench_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/schema"
	"github.com/sluicehq/sluice/sqlite"
)

// envelope is the part of a generated event the tests read.
type envelope struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Stream string          `json:"stream"`
	Time   string          `json:"time"`
	Data   json.RawMessage `json:"data"`
}

// newRegistry returns the schema registry, over a real embedded store,
// with the schema of every kind registered.
func newRegistry(t *testing.T) *schema.Registry {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	reg := schema.New(store, schema.Options{})
	for _, kind := range []string{bench.KindPageView, bench.KindWebVital, bench.KindOrder} {
		if _, _, err := reg.Put(ctx, bench.EventType(kind), bench.Schema(kind)); err != nil {
			t.Fatalf("register the schema of %s: %v", kind, err)
		}
	}
	return reg
}

func TestEnvelopes(t *testing.T) {
	t.Parallel()
	reg := newRegistry(t)
	for _, kind := range bench.Kinds {
		for _, size := range []int{400, 2000} {
			for _, share := range []float64{0, 0.25, 1} {
				evs := bench.Envelopes(kind, 200, size, share)
				invalid := 0
				ways := map[string]bool{}
				for i, b := range evs {
					var e envelope
					if err := json.Unmarshal(b, &e); err != nil {
						t.Fatalf("%s: event %d is not JSON: %v\n%s", kind, i, err, b)
					}
					if e.ID != "" || e.Stream == "" || e.Time == "" {
						t.Fatalf("%s: event %d has id %q, stream %q, time %q: want no id, a stream and a time", kind, i, e.ID, e.Stream, e.Time)
					}
					if kind != bench.KindMixed && e.Type != bench.EventType(kind) {
						t.Fatalf("%s: event %d has type %q", kind, i, e.Type)
					}
					if len(b) < size || len(b) > size+size/4 {
						t.Errorf("%s: event %d is %d bytes, want about %d", kind, i, len(b), size)
					}
					known, vs := reg.Validate(e.Type, e.Data)
					if !known {
						t.Fatalf("%s: no schema for type %q", kind, e.Type)
					}
					if len(vs) > 0 {
						invalid++
						ways[vs[0].Path+" "+vs[0].Keyword] = true
					}
				}
				if want := int(share * 200); invalid != want {
					t.Errorf("%s, %d bytes, share %v: %d of 200 events invalid, want %d", kind, size, share, invalid, want)
				}
				if share == 1 && len(ways) < 3 {
					t.Errorf("%s: invalid events break the schema in %d ways (%v), want at least 3", kind, len(ways), ways)
				}
			}
		}
	}
	if bench.Schema(bench.KindMixed) != nil || bench.Schema("frob") != nil || len(bench.Types(bench.KindMixed)) != 3 {
		t.Errorf("Schema or Types of mixed or an unknown kind")
	}
}
