package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sink/file"
	"github.com/sluicehq/sluice/sink/kafka"
	"github.com/sluicehq/sluice/sink/kinesis"
	"github.com/sluicehq/sluice/sink/nats"
	"github.com/sluicehq/sluice/sink/opensearch"
	"github.com/sluicehq/sluice/sink/s3"
	"github.com/sluicehq/sluice/sink/webhook"
)

// sinkTypes are the destinations a sinks: entry may name as its type, each
// with a new, empty configuration of its own.
var sinkTypes = map[string]func() sink.Destination{
	"file":       func() sink.Destination { return new(file.Config) },
	"kafka":      func() sink.Destination { return new(kafka.Config) },
	"kinesis":    func() sink.Destination { return new(kinesis.Config) },
	"nats":       func() sink.Destination { return new(nats.Config) },
	"opensearch": func() sink.Destination { return new(opensearch.Config) },
	"s3":         func() sink.Destination { return new(s3.Config) },
	"webhook":    func() sink.Destination { return new(webhook.Config) },
}

// SinkConfig is one entry of sinks: the fields every sink has, and those
// of its type.
type SinkConfig struct {
	sink.Config `yaml:",inline"`
	// Destination holds the fields of the type's own.
	Destination sink.Destination `yaml:"-"`
	// line is the entry's line in the file, for the errors.
	line int
	// err is why the entry could not be decoded: kept here, and reported
	// with the file's other problems, because an error returned to yaml.v3
	// would end the whole decoding and leave every entry empty.
	err error
}

// UnmarshalYAML decodes an entry strictly: its type chooses the fields it
// may have, and any other is a problem naming its line, kept in the entry
// (decodeConfig reports it).
func (s *SinkConfig) UnmarshalYAML(n *yaml.Node) error {
	s.err = s.decode(n)
	return nil
}

// decode is UnmarshalYAML's work.
func (s *SinkConfig) decode(n *yaml.Node) error {
	s.line = n.Line
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a sink is a mapping of its fields", n.Line)
	}
	common, own := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}, &yaml.Node{Kind: yaml.MappingNode, Line: n.Line}
	commonFields := yamlFields(reflect.TypeFor[sink.Config]())
	var typ *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "type" {
			typ = v
		}
		if _, ok := commonFields[k.Value]; ok {
			common.Content = append(common.Content, k, v)
		} else {
			own.Content = append(own.Content, k, v)
		}
	}
	if err := decodeStrict(common, &s.Config, "sink"); err != nil {
		return err
	}
	if typ == nil {
		return fmt.Errorf("line %d: a sink needs a type: one of %s", n.Line, strings.Join(slices.Sorted(maps.Keys(sinkTypes)), ", "))
	}
	newDest, ok := sinkTypes[typ.Value]
	if !ok {
		return fmt.Errorf("line %d: unknown sink type %q; want one of %s", typ.Line, typ.Value, strings.Join(slices.Sorted(maps.Keys(sinkTypes)), ", "))
	}
	s.Destination = newDest()
	return decodeStrict(own, s.Destination, "a sink of type "+typ.Value)
}

// decodeStrict decodes n into v, refusing any field v has not, with its
// line: yaml.v3 checks fields only from its Decoder, not from a Node.
func decodeStrict(n *yaml.Node, v any, what string) error {
	if err := unknownFields(n, reflect.TypeOf(v), what); err != nil {
		return err
	}
	return n.Decode(v)
}

// unknownFields returns the first field of the mapping n that type t (a
// struct, or a pointer, slice or map of them) does not have.
func unknownFields(n *yaml.Node, t reflect.Type, what string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return nil // it decodes itself
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("line %d: unknown field %q in %s", k.Line, k.Value, what)
			}
			if err := unknownFields(n.Content[i+1], ft, what); err != nil {
				return err
			}
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Map) && (n.Kind == yaml.SequenceNode || n.Kind == yaml.MappingNode):
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				continue // a map's keys
			}
			if err := unknownFields(c, t.Elem(), what); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields maps the YAML names of a struct's fields (those of inlined
// structs included) to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.Contains(f.Tag.Get("yaml"), ",inline") {
			maps.Copy(out, yamlFields(f.Type))
			continue
		}
		if name := yamlName(f); name != "" {
			out[name] = f.Type
		}
	}
	return out
}

// sinksProblems checks every sink, with paths under "sinks[i]".
func (c Config) sinksProblems() []error {
	var errs []error
	seen := map[string]bool{}
	for i, s := range c.Sinks {
		at := fmt.Sprintf("sinks[%d]", i)
		if s.Name != "" {
			at += fmt.Sprintf(" (%s)", s.Name)
		}
		if seen[s.Name] && s.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: %q names another sink too", at, s.Name))
		}
		seen[s.Name] = true
		if s.err != nil {
			continue // reported by decodeConfig
		}
		if s.Destination == nil {
			errs = append(errs, fmt.Errorf("%s.type: required", at))
			continue
		}
		for _, e := range unjoin(s.Config.Validate(s.Destination.Limits())) {
			errs = append(errs, fmt.Errorf("%s.%w", at, e))
		}
		for _, e := range unjoin(s.Destination.Validate()) {
			errs = append(errs, fmt.Errorf("%s.%w", at, e))
		}
	}
	return errs
}

// openSinks opens the configured sinks and returns their manager; node
// names this process in their leases; tracer (nil: none) gets a span for
// each delivery.
func openSinks(ctx context.Context, store sluice.Store, cfg Config, node string, tracer trace.Tracer, log *slog.Logger) (*sink.Manager, error) {
	m := sink.NewManager(store, log)
	for _, sc := range cfg.Sinks {
		s, err := sc.Destination.Open(ctx, sink.Env{Name: sc.Name, Node: node, Logger: log.With("sink", sc.Name)})
		if err == nil {
			var r *sink.Runner
			if r, err = sink.NewRunner(store, s, sc.Config, sc.Destination.Limits(), sink.RunnerOptions{Node: node, Logger: log, Tracer: tracer}); err == nil {
				err = m.Add(r)
			}
			if err != nil {
				s.Close()
			}
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sinks: %s: %w", sc.Name, err), m.Close())
		}
		log.Info("sink configured", "sink", sc.Name, "type", sc.Type)
	}
	return m, nil
}
