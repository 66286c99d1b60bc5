package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// putSchema puts doc for typ and fails the test unless it gets version
// want, created or not as told.
func putSchema(tb testing.TB, s sluice.Schemas, typ, doc string, want int, created bool) sluice.SchemaVersion {
	tb.Helper()
	v, c, err := s.PutSchema(ctxFor(tb), typ, []byte(doc))
	if err != nil {
		tb.Fatalf("put schema %s %s: %v", typ, doc, err)
	}
	if v.Type != typ || v.Version != want || string(v.Schema) != doc || c != created {
		tb.Fatalf("put schema %s %s: version %d %s created=%t, want version %d created=%t", typ, doc, v.Version, v.Schema, c, want, created)
	}
	if v.CreatedAt.IsZero() || v.CreatedAt.Location() != time.UTC {
		tb.Fatalf("put schema %s: created at %v, want a time in UTC", typ, v.CreatedAt)
	}
	return v
}

// sameSchema fails the test unless got is want.
func sameSchema(tb testing.TB, got, want sluice.SchemaVersion) {
	tb.Helper()
	if got.Type != want.Type || got.Version != want.Version || string(got.Schema) != string(want.Schema) || !got.CreatedAt.Equal(want.CreatedAt) {
		tb.Fatalf("schema %s v%d %s created %v, want %s v%d %s created %v",
			got.Type, got.Version, got.Schema, got.CreatedAt, want.Type, want.Version, want.Schema, want.CreatedAt)
	}
}

// sameSchemas fails the test unless got is want, in order.
func sameSchemas(tb testing.TB, got, want []sluice.SchemaVersion) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%d schemas, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		sameSchema(tb, got[i], want[i])
	}
}

func testSchemas(t *testing.T, open Opener, _ Features) {
	s := open(t)
	ctx := ctxFor(t)
	const typ = "order.placed"
	docA, docB := `{"type":"object"}`, `{"required":["id"],"type":"object"}`
	v1 := putSchema(t, s, typ, docA, 1, true)
	sameSchema(t, putSchema(t, s, typ, docA, 1, false), v1)
	v2 := putSchema(t, s, typ, docB, 2, true)
	// Only the latest version counts as equal: going back is a new version.
	v3 := putSchema(t, s, typ, docA, 3, true)

	for _, want := range []sluice.SchemaVersion{v1, v2, v3} {
		got, err := s.Schema(ctx, typ, want.Version)
		if err != nil {
			t.Fatalf("schema v%d: %v", want.Version, err)
		}
		sameSchema(t, got, want)
	}
	latest, err := s.Schema(ctx, typ, 0)
	if err != nil {
		t.Fatalf("latest schema: %v", err)
	}
	sameSchema(t, latest, v3)
	if _, err := s.Schema(ctx, typ, 4); !errors.Is(err, sluice.ErrSchemaNotFound) {
		t.Fatalf("missing version: %v, want ErrSchemaNotFound", err)
	}
	if _, err := s.Schema(ctx, "missing.type", 0); !errors.Is(err, sluice.ErrSchemaNotFound) {
		t.Fatalf("missing type: %v, want ErrSchemaNotFound", err)
	}
	if _, err := s.Schema(ctx, "missing.type", 1); !errors.Is(err, sluice.ErrSchemaNotFound) {
		t.Fatalf("missing type, version 1: %v, want ErrSchemaNotFound", err)
	}

	// Types sort in byte order: upper case before lower case.
	z := putSchema(t, s, "z.last", `{}`, 1, true)
	u := putSchema(t, s, "User.created", `{"type":"object"}`, 1, true)
	a1 := putSchema(t, s, "a.first", `{"type":"string"}`, 1, true)
	a2 := putSchema(t, s, "a.first", `{"type":"number"}`, 2, true)
	all, err := s.LatestSchemas(ctx)
	if err != nil {
		t.Fatalf("latest schemas: %v", err)
	}
	sameSchemas(t, all, []sluice.SchemaVersion{u, a2, v3, z})

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t)
	all, err = s.LatestSchemas(ctxFor(t))
	if err != nil {
		t.Fatalf("latest schemas after reopen: %v", err)
	}
	sameSchemas(t, all, []sluice.SchemaVersion{u, a2, v3, z})
	old, err := s.Schema(ctxFor(t), "a.first", 1)
	if err != nil {
		t.Fatalf("schema after reopen: %v", err)
	}
	sameSchema(t, old, a1)
	putSchema(t, s, typ, docA, 3, false)
	putSchema(t, s, typ, docB, 4, true)
}

// testSchemasConcurrent: 8 goroutines (through two Stores with shared
// access) put different documents for one type at once. Each gets a
// version of its own, 1 to 8, and each version holds its document.
func testSchemasConcurrent(t *testing.T, open Opener, f Features) {
	stores := []sluice.Store{open(t)}
	if f.SharedAccess {
		stores = append(stores, open(t))
	}
	const typ, goroutines = "page.viewed", 8
	got := make([]sluice.SchemaVersion, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			<-start
			v, created, err := stores[g%len(stores)].PutSchema(ctxFor(t), typ, fmt.Appendf(nil, `{"title":"doc %d"}`, g))
			if err != nil || !created {
				t.Errorf("goroutine %d: created=%t, %v", g, created, err)
			}
			got[g] = v
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := map[int]bool{}
	for g, v := range got {
		if v.Version < 1 || v.Version > goroutines || seen[v.Version] {
			t.Fatalf("goroutine %d got version %d; versions so far %v, want 1..%d each once", g, v.Version, seen, goroutines)
		}
		seen[v.Version] = true
		stored, err := stores[0].Schema(ctxFor(t), typ, v.Version)
		if err != nil {
			t.Fatalf("schema v%d: %v", v.Version, err)
		}
		if want := fmt.Sprintf(`{"title":"doc %d"}`, g); string(stored.Schema) != want {
			t.Fatalf("version %d holds %s, want %s", v.Version, stored.Schema, want)
		}
	}
}
