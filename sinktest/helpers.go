package sinktest

import (
	"bytes"
	"context"
	"maps"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

// Helpers for a sink package's own tests.

// Open opens d's sink in env, fails the test unless it opens as an S,
// and closes it when tb ends.
func Open[S sluice.Sink](tb testing.TB, d sink.Destination, env sink.Env) S {
	tb.Helper()
	s, err := d.Open(context.Background(), env)
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	typed, ok := s.(S)
	if !ok {
		tb.Fatalf("open: a %T, not a %T", s, typed)
	}
	return typed
}

// CheckProblems fails the test unless the lines of err, the problems a
// Validate joined, are want, in order; no want: err must be nil.
func CheckProblems(tb testing.TB, err error, want []string) {
	tb.Helper()
	var got []string
	if err != nil {
		got = strings.Split(err.Error(), "\n")
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		tb.Errorf("Validate:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// CheckFields fails the test unless h.Fields, decoded strictly as the
// binary decodes a sinks: entry, are h.Destination, and their type is
// typ: the configuration the real binary gets is the one the tests run
// in-process.
func CheckFields(t *testing.T, h Harness, typ string) {
	t.Helper()
	fields := maps.Clone(h.Fields)
	if fields["type"] != typ {
		t.Errorf("type: %v, want %s", fields["type"], typ)
	}
	delete(fields, "type")
	doc, err := yaml.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	got := reflect.New(reflect.TypeOf(h.Destination).Elem()).Interface()
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(got); err != nil {
		t.Fatalf("decode the fields: %v\n%s", err, doc)
	}
	if !reflect.DeepEqual(got, h.Destination) {
		t.Errorf("the fields decode to %+v, want %+v", got, h.Destination)
	}
}
