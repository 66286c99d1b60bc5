package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicehq/sluice"
)

// ErrInvalidSchema: a schema document is not JSON or does not compile. The
// error is an *InvalidSchemaError.
var ErrInvalidSchema = errors.New("invalid schema")

// InvalidSchemaError says why a schema document was refused.
type InvalidSchemaError struct {
	Type string
	// Message is the parser's or the compiler's explanation.
	Message string
}

func (e *InvalidSchemaError) Error() string {
	return fmt.Sprintf("invalid schema for type %q: %s", e.Type, e.Message)
}

func (e *InvalidSchemaError) Unwrap() error { return ErrInvalidSchema }

// Options configure a Registry.
type Options struct {
	// Refresh is how often Run re-reads the latest versions from the store,
	// so that a version registered through another process takes effect.
	// Default 500ms.
	Refresh time.Duration
}

// Registry compiles, caches and applies the schemas of event types. It is
// safe for concurrent use: Validate reads an immutable map that Put and
// Load replace as a whole.
type Registry struct {
	store   sluice.Schemas
	refresh time.Duration
	cache   atomic.Pointer[map[string]*compiled] // by type

	mu      sync.Mutex // serializes replacing cache; guards lastErr
	lastErr error
}

// compiled is one version of a type's schema, ready to validate.
type compiled struct {
	typ     string
	version int
	schema  *jsonschema.Schema
	fast    *fastSchema // nil: the schema is beyond the fast path's subset
}

// New returns a Registry of the schemas in store, empty until Load.
func New(store sluice.Schemas, opts Options) *Registry {
	if opts.Refresh <= 0 {
		opts.Refresh = 500 * time.Millisecond
	}
	r := &Registry{store: store, refresh: opts.Refresh}
	r.cache.Store(&map[string]*compiled{})
	return r
}

// Load reads the latest version of every type's schema from the store and
// compiles those that are new to the cache. A version that does not compile
// (the store was written by another release) leaves the type's previous
// version in place and is reported in the error, which names the type.
func (r *Registry) Load(ctx context.Context) error {
	err := r.load(ctx)
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
	return err
}

func (r *Registry) load(ctx context.Context) error {
	latest, err := r.store.LatestSchemas(ctx)
	if err != nil {
		return fmt.Errorf("load schemas: %w", err)
	}
	cache := *r.cache.Load()
	var fresh []*compiled
	var errs []error
	for _, v := range latest {
		if c := cache[v.Type]; c != nil && c.version >= v.Version {
			continue
		}
		p, err := prepare(v.Type, v.Schema)
		if err != nil {
			errs = append(errs, fmt.Errorf("load schema %q version %d: %w", v.Type, v.Version, err))
			continue
		}
		fresh = append(fresh, &compiled{typ: v.Type, version: v.Version, schema: p.schema, fast: p.fast})
	}
	r.install(fresh...)
	return errors.Join(errs...)
}

// Run reloads the cache every Options.Refresh until ctx is done, then
// returns nil. A failed reload keeps the cache as it was; LastError tells.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(r.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = r.Load(ctx)
		}
	}
}

// LastError returns the error of the last Load (Run's included), nil when
// it succeeded.
func (r *Registry) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// install replaces the cache by a copy with cs added. A type keeps the
// version it has when that is newer: a Load that read the store before a
// Put must not undo it. Types are never removed, as the store never
// forgets a schema.
func (r *Registry) install(cs ...*compiled) {
	if len(cs) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := maps.Clone(*r.cache.Load())
	for _, c := range cs {
		if cur := next[c.typ]; cur == nil || cur.version < c.version {
			next[c.typ] = c
		}
	}
	r.cache.Store(&next)
}

// Put registers doc as the next version of typ's schema and installs it at
// once. A doc equal to the latest version, however it is indented or its
// members ordered, is not stored again: Put returns that version with
// created false. A doc that is not JSON or does not compile is refused with
// an *InvalidSchemaError.
func (r *Registry) Put(ctx context.Context, typ string, doc []byte) (sluice.SchemaVersion, bool, error) {
	p, err := prepare(typ, doc)
	if err != nil {
		return sluice.SchemaVersion{}, false, err
	}
	return r.put(ctx, p)
}

func (r *Registry) put(ctx context.Context, p prepared) (sluice.SchemaVersion, bool, error) {
	v, created, err := r.store.PutSchema(ctx, p.typ, p.doc)
	if err != nil {
		return sluice.SchemaVersion{}, false, fmt.Errorf("put schema %q: %w", p.typ, err)
	}
	r.install(&compiled{typ: p.typ, version: v.Version, schema: p.schema, fast: p.fast})
	return v, created, nil
}

// LoadDir registers every *.json file of dir as the schema of the type its
// name gives (page_view.json: type page_view) and returns how many new
// versions it created. Every file is checked before any is stored: when one
// is invalid nothing is registered, and the error names each invalid file.
func (r *Registry) LoadDir(ctx context.Context, dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("load schema directory: %w", err)
	}
	var ps []prepared
	var errs []error
	for _, e := range entries {
		typ, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		doc, err := os.ReadFile(path)
		if err == nil {
			var p prepared
			p, err = prepare(typ, doc)
			ps = append(ps, p)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		_, created, err := r.put(ctx, p)
		if err != nil {
			return n, err
		}
		if created {
			n++
		}
	}
	return n, nil
}

// prepared is a schema document that compiles, in canonical form.
type prepared struct {
	typ    string
	doc    []byte
	schema *jsonschema.Schema
	fast   *fastSchema
}

// prepare checks typ, parses and compiles doc, and puts it in canonical
// form: compact, object members sorted, numbers as written.
func prepare(typ string, doc []byte) (prepared, error) {
	if err := sluice.CheckType(typ); err != nil {
		return prepared{}, fmt.Errorf("schema: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return prepared{}, &InvalidSchemaError{Type: typ, Message: "not JSON: " + err.Error()}
	}
	if vs := bigNumbers(v); vs != nil {
		return prepared{}, &InvalidSchemaError{Type: typ, Message: describe(sorted(vs))}
	}
	sch, err := compile(typ, v)
	if err != nil {
		return prepared{}, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // encoding/json sorts map keys
		return prepared{}, &InvalidSchemaError{Type: typ, Message: err.Error()}
	}
	return prepared{typ: typ, doc: bytes.TrimSuffix(b.Bytes(), []byte("\n")), schema: sch, fast: newFast(typ, v)}, nil
}

// compile compiles the parsed document v as draft 2020-12 (unless it names
// another draft in $schema), with formats asserted. References must stay
// inside the document ($defs, #/...): validating never reaches the network
// or the disk.
func compile(typ string, v any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(noLoader{})
	url := "sluice:///schemas/" + typ
	if err := c.AddResource(url, v); err != nil {
		return nil, &InvalidSchemaError{Type: typ, Message: err.Error()}
	}
	sch, err := c.Compile(url)
	if err == nil {
		return sch, nil
	}
	// The metaschema's verdict, in the form of the event's violations but
	// on one line and with pointers into the schema document.
	msg := err.Error()
	var serr *jsonschema.SchemaValidationError
	if errors.As(err, &serr) {
		if verr, ok := serr.Err.(*jsonschema.ValidationError); ok {
			msg = "does not conform to the JSON Schema metaschema: " + describe(flatten(verr, ""))
		}
	}
	return nil, &InvalidSchemaError{Type: typ, Message: msg}
}

// noLoader refuses every document the compiler would fetch: external
// references are not supported.
type noLoader struct{}

func (noLoader) Load(string) (any, error) {
	return nil, errors.New("external references are not supported; put shared definitions in $defs and refer to them as #/$defs/name")
}

// Known reports whether typ has a schema.
func (r *Registry) Known(typ string) bool { return (*r.cache.Load())[typ] != nil }

// Validate checks data against the latest schema of typ. known is false
// when typ has no schema (the caller applies its policy). violations lists
// every reason data is invalid, ordered by path; none when it is valid.
// Data that is not JSON gives one violation at /data, and numbers beyond
// the limits of numbers.go one each (without a keyword).
func (r *Registry) Validate(typ string, data []byte) (known bool, violations []sluice.Violation) {
	c := (*r.cache.Load())[typ]
	if c == nil {
		return false, nil
	}
	if c.fast != nil && c.fast.accepts(data) { // certainly valid, without decoding: fast.go
		return true, nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return true, []sluice.Violation{{Path: "/data", Message: "data is not valid JSON: " + err.Error()}}
	}
	if vs := bigNumbers(v); vs != nil {
		for i := range vs {
			vs[i].Path = "/data" + vs[i].Path
		}
		return true, sorted(vs)
	}
	err = c.schema.Validate(v)
	if err == nil {
		return true, nil
	}
	// Validate returns a *ValidationError whenever it fails; the other
	// branch guards against a change of the library.
	verr, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return true, []sluice.Violation{{Path: "/data", Message: err.Error()}}
	}
	return true, flatten(verr, "/data")
}
