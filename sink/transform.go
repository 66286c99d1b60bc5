package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/itchyny/gojq"

	"github.com/sluicehq/sluice"
)

// transformTimeout bounds one event's transform: a jq expression can loop
// for ever (repeat(.)), and one event must not stall its sink.
const transformTimeout = time.Second

// Transform is a jq expression that reshapes each event before it is
// delivered, or drops it by giving no value (empty, select(…)). Its input
// is the stored event as GET /v1/events returns it; it has no access to
// the environment or to other inputs.
type Transform struct {
	src  string
	code *gojq.Code
}

// CompileTransform compiles the jq expression src.
func CompileTransform(src string) (*Transform, error) {
	q, err := gojq.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("transform %q: %w", src, err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fmt.Errorf("transform %q: %w", src, err)
	}
	return &Transform{src: src, code: code}, nil
}

// String is the expression's source.
func (t *Transform) String() string { return t.src }

// Apply returns the body to deliver for e: the expression's value as JSON,
// or keep false when it gives none (the event is dropped). An expression
// that fails, gives more than one value or runs past a second is an error:
// no retry changes what it makes of the event.
func (t *Transform) Apply(ctx context.Context, e *sluice.Event) (body []byte, keep bool, err error) {
	var in any
	dec := json.NewDecoder(bytes.NewReader(e.AppendJSON(nil)))
	dec.UseNumber() // numbers as written, however large
	if err := dec.Decode(&in); err != nil {
		return nil, false, fmt.Errorf("transform: event %s: %w", e.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, transformTimeout)
	defer cancel()
	iter := t.code.RunWithContext(ctx, in)
	var out []any
	for {
		v, ok := iter.Next()
		if !ok {
			break
		}
		if err, isErr := v.(error); isErr {
			var halt *gojq.HaltError
			if errors.As(err, &halt) && halt.Value() == nil {
				break // halt: no more values
			}
			return nil, false, fmt.Errorf("transform: event %s: %w", e.ID, err)
		}
		if out = append(out, v); len(out) > 1 {
			return nil, false, fmt.Errorf("transform: event %s: the expression gave more than one value; it must give one, or none to drop the event", e.ID)
		}
	}
	if len(out) == 0 {
		return nil, false, nil
	}
	body, err = gojq.Marshal(out[0])
	if err != nil {
		return nil, false, fmt.Errorf("transform: event %s: %w", e.ID, err)
	}
	return body, true, nil
}
