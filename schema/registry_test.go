package schema_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/schema"
	"github.com/sluicehq/sluice/sqlite"
)

// newStore opens an embedded store in a temporary directory.
func newStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// put registers doc for typ and fails the test if it is refused.
func put(tb testing.TB, r *schema.Registry, typ, doc string) sluice.SchemaVersion {
	tb.Helper()
	v, _, err := r.Put(context.Background(), typ, []byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func TestRegistry_Put(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("NotJSON", func(t *testing.T) {
		t.Parallel()
		r := schema.New(newStore(t), schema.Options{})
		_, _, err := r.Put(ctx, "order.placed", []byte(`{"type": "object",`))
		var ise *schema.InvalidSchemaError
		if !errors.Is(err, schema.ErrInvalidSchema) || !errors.As(err, &ise) {
			t.Fatalf("err = %v, want an *InvalidSchemaError", err)
		}
		if ise.Type != "order.placed" || !strings.Contains(ise.Message, "not JSON") {
			t.Errorf("error = %+v, want the type and \"not JSON\"", ise)
		}
	})

	t.Run("DoesNotCompile", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ doc, message string }{
			{`{"type": 5}`, "/type: matches none of the alternatives"},
			{`{"minimum": "x"}`, "/minimum: got string, want number"},
			{`{"properties": {"sku": {"pattern": "("}}}`, "is not valid regex"},
			{`["object"]`, "got array, want boolean or object"},
			{`{"$ref": "http://example.com/x"}`, `"http://example.com/x": external references are not supported`},
			{`{"$ref": "file:///etc/schema.json"}`, "external references are not supported"},
			{`{"$ref": "common.json#/$defs/money"}`, "external references are not supported"},
			{`{"$schema": "https://example.com/my-meta"}`, "external references are not supported"},
			{`{"$ref": "#/$defs/missing"}`, "not found"},
			{`{"minimum": 1e9999999}`, "/minimum: number too large to validate"},
		} {
			store := newStore(t)
			r := schema.New(store, schema.Options{})
			_, _, err := r.Put(ctx, "t", []byte(tc.doc))
			var ise *schema.InvalidSchemaError
			if !errors.As(err, &ise) || !errors.Is(err, schema.ErrInvalidSchema) {
				t.Errorf("%s: err = %v, want an *InvalidSchemaError", tc.doc, err)
				continue
			}
			if !strings.Contains(ise.Message, tc.message) {
				t.Errorf("%s: message %q does not say %q", tc.doc, ise.Message, tc.message)
			}
			if _, err := store.Schema(ctx, "t", 0); !errors.Is(err, sluice.ErrSchemaNotFound) {
				t.Errorf("%s: stored anyway (Schema: %v)", tc.doc, err)
			}
		}
	})

	t.Run("InvalidType", func(t *testing.T) {
		t.Parallel()
		r := schema.New(newStore(t), schema.Options{})
		_, _, err := r.Put(ctx, "order placed", []byte(`{}`))
		if err == nil || errors.Is(err, schema.ErrInvalidSchema) {
			t.Fatalf("err = %v, want an error about the type", err)
		}
	})

	t.Run("SameSchemaTwice", func(t *testing.T) {
		t.Parallel()
		store := newStore(t)
		r := schema.New(store, schema.Options{})
		v1, created, err := r.Put(ctx, "t", []byte(`{"type": "object", "properties": {"price": {"type": "number", "minimum": 0}}}`))
		if err != nil || !created || v1.Version != 1 {
			t.Fatalf("first Put = %d, %t, %v; want version 1 created", v1.Version, created, err)
		}
		// Re-indented, members reordered.
		v2, created, err := r.Put(ctx, "t", []byte("{\n  \"properties\": {\n    \"price\": {\"minimum\": 0, \"type\": \"number\"}\n  },\n  \"type\": \"object\"\n}\n"))
		if err != nil || created || v2.Version != 1 {
			t.Fatalf("second Put = %d, %t, %v; want version 1 not created", v2.Version, created, err)
		}
		got, err := store.Schema(ctx, "t", 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"properties":{"price":{"minimum":0,"type":"number"}},"type":"object"}`; string(got.Schema) != want {
			t.Errorf("stored %s, want the canonical %s", got.Schema, want)
		}
	})

	t.Run("CanonicalKeepsNumbersAndText", func(t *testing.T) {
		t.Parallel()
		store := newStore(t)
		r := schema.New(store, schema.Options{})
		put(t, r, "t", `{"maximum": 1.50, "pattern": "^<a&b>$", "multipleOf": 1e-2}`)
		got, err := store.Schema(ctx, "t", 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"maximum":1.50,"multipleOf":1e-2,"pattern":"^<a&b>$"}`; string(got.Schema) != want {
			t.Errorf("stored %s, want %s", got.Schema, want)
		}
	})

	t.Run("NewVersionTakesEffectAtOnce", func(t *testing.T) {
		t.Parallel()
		r := schema.New(newStore(t), schema.Options{})
		put(t, r, "t", `{"type": "object"}`)
		if _, vs := r.Validate("t", []byte(`{}`)); len(vs) != 0 {
			t.Fatalf("version 1 rejects {}: %v", vs)
		}
		if v := put(t, r, "t", `{"type": "object", "required": ["price"]}`); v.Version != 2 {
			t.Fatalf("version = %d, want 2", v.Version)
		}
		_, vs := r.Validate("t", []byte(`{}`))
		if len(vs) != 1 || vs[0].Path != "/data/price" {
			t.Fatalf("version 2 gives %v, want the missing /data/price", vs)
		}
	})
}

func TestRegistry_Load(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ReadsLatestVersions", func(t *testing.T) {
		t.Parallel()
		store := newStore(t)
		a := schema.New(store, schema.Options{})
		put(t, a, "t", `{"type": "string"}`)
		put(t, a, "t", `{"type": "integer"}`)
		put(t, a, "u", `{"type": "boolean"}`)

		b := schema.New(store, schema.Options{})
		if known, _ := b.Validate("t", []byte(`1`)); known {
			t.Fatal("a new Registry knows t before Load")
		}
		if err := b.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if known, vs := b.Validate("t", []byte(`1`)); !known || len(vs) != 0 {
			t.Errorf("t after Load: known %t, %v; want version 2 (integer)", known, vs)
		}
		if known, vs := b.Validate("u", []byte(`1`)); !known || len(vs) != 1 {
			t.Errorf("u after Load: known %t, %v; want one violation", known, vs)
		}
	})

	t.Run("StoreUnavailableKeepsCache", func(t *testing.T) {
		t.Parallel()
		store := newStore(t)
		r := schema.New(store, schema.Options{})
		put(t, r, "t", `{"type": "string"}`)
		store.Close()
		if err := r.Load(ctx); err == nil || r.LastError() == nil {
			t.Fatalf("Load = %v, LastError = %v; want the store's error", err, r.LastError())
		}
		if known, vs := r.Validate("t", []byte(`1`)); !known || len(vs) != 1 {
			t.Errorf("after a failed Load: known %t, %v; want the cached schema", known, vs)
		}
	})
}

func TestRegistry_Run(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	store := newStore(t)
	// a and b stand for two processes sharing the store.
	a := schema.New(store, schema.Options{})
	b := schema.New(store, schema.Options{Refresh: 50 * time.Millisecond})
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()

	put(t, a, "t", `{"type": "string"}`)
	testutil.Eventually(t, time.Second, func() bool {
		known, vs := b.Validate("t", []byte(`1`))
		return known && len(vs) == 1
	}, "b sees version 1")

	put(t, a, "t", `{"type": "integer"}`)
	testutil.Eventually(t, time.Second, func() bool {
		_, vs := b.Validate("t", []byte(`1`))
		return len(vs) == 0
	}, "b sees version 2")
	if err := b.LastError(); err != nil {
		t.Errorf("LastError = %v", err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestRegistry_LoadDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RegistersEveryFile", func(t *testing.T) {
		t.Parallel()
		r := schema.New(newStore(t), schema.Options{})
		n, err := r.LoadDir(ctx, "testdata/schemas")
		if err != nil || n != 2 {
			t.Fatalf("LoadDir = %d, %v; want 2 versions created", n, err)
		}
		for _, typ := range []string{"order.placed", "page.viewed"} {
			if known, _ := r.Validate(typ, []byte(`{}`)); !known {
				t.Errorf("%s is not registered", typ)
			}
		}
		if known, _ := r.Validate("README", []byte(`{}`)); known {
			t.Error("README.txt was registered")
		}
		n, err = r.LoadDir(ctx, "testdata/schemas")
		if err != nil || n != 0 {
			t.Errorf("LoadDir again = %d, %v; want 0 versions created", n, err)
		}
	})

	t.Run("InvalidFile", func(t *testing.T) {
		t.Parallel()
		r := schema.New(newStore(t), schema.Options{})
		n, err := r.LoadDir(ctx, "testdata/invalid")
		if n != 0 || !errors.Is(err, schema.ErrInvalidSchema) {
			t.Fatalf("LoadDir = %d, %v; want an invalid schema", n, err)
		}
		for _, file := range []string{"five.json", "truncated.json"} {
			if !strings.Contains(err.Error(), file) {
				t.Errorf("the error does not name %s: %v", file, err)
			}
		}
		if known, _ := r.Validate("good", []byte(`{}`)); known {
			t.Error("good.json was registered although other files are invalid")
		}
	})

	t.Run("MissingDirectory", func(t *testing.T) {
		t.Parallel()
		r := schema.New(newStore(t), schema.Options{})
		if _, err := r.LoadDir(ctx, "testdata/nothing-here"); err == nil {
			t.Fatal("LoadDir of a missing directory succeeded")
		}
	})
}
