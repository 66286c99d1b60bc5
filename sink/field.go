package sink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice"
)

// Field names a value of an event that a sink takes a key from: a Kinesis
// partition key, a Kafka record key. It is one of id, type, stream,
// category, source, or a dotted path into the data or the metadata
// (data.user.id, metadata.tenant). The zero Field is the stream.
type Field struct {
	name string   // id, type, stream, category, source, data, metadata
	path []string // under data or metadata
}

// ParseField parses a field's name; "" is the stream.
func ParseField(s string) (Field, error) {
	switch s {
	case "", "stream":
		return Field{}, nil
	case "id", "type", "category", "source":
		return Field{name: s}, nil
	}
	root, rest, ok := strings.Cut(s, ".")
	if (root == "data" || root == "metadata") && ok {
		path := strings.Split(rest, ".")
		for _, p := range path {
			if p == "" {
				return Field{}, fmt.Errorf("field %q: an empty name in the path", s)
			}
		}
		return Field{name: root, path: path}, nil
	}
	return Field{}, fmt.Errorf("field %q: want id, type, stream, category, source, data.<path> or metadata.<path>", s)
}

// String is the field's name as ParseField takes it.
func (f Field) String() string {
	switch f.name {
	case "":
		return "stream"
	case "data", "metadata":
		return f.name + "." + strings.Join(f.path, ".")
	}
	return f.name
}

// Value returns the field's value in e: a string as it is, another JSON
// value (a number, true) as its JSON text. A path that e's data or metadata
// does not have, or that leads to null, an object or an array, gives the
// event's stream, so that a key is never empty.
func (f Field) Value(e *sluice.Event) string {
	switch f.name {
	case "id":
		return e.ID
	case "type":
		return e.Type
	case "category":
		return sluice.Category(e.Stream)
	case "source":
		if e.Source != "" {
			return e.Source
		}
	case "data":
		if v, ok := lookup(e.Data, f.path); ok {
			return v
		}
	case "metadata":
		if v, ok := lookup(e.Metadata, f.path); ok {
			return v
		}
	}
	return e.Stream
}

// lookup returns the scalar at path in the JSON document doc.
func lookup(doc json.RawMessage, path []string) (string, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	for _, name := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = obj[name]; !ok {
			return "", false
		}
	}
	switch v := v.(type) {
	case string:
		return v, v != ""
	case json.Number:
		return v.String(), true
	case bool:
		return fmt.Sprint(v), true
	}
	return "", false
}
