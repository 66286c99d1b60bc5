package dynamodb

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Cursor is where a scan is, segment by segment: the file that --resume
// reads, JSON written whole (a temporary file renamed) after every page
// the target has stored.
type Cursor struct {
	// Table and Segments are the scan's; a resume with others is refused.
	Table    string `json:"table"`
	Segments int    `json:"segments"`
	// Positions has one entry per segment.
	Positions []SegmentPosition `json:"positions"`
}

// SegmentPosition is where one segment is.
type SegmentPosition struct {
	// Done: the segment is read to its end.
	Done bool `json:"done,omitempty"`
	// After is the key of the last item stored (the Scan's
	// LastEvaluatedKey), in DynamoDB's JSON ({"pk":{"S":"a"}}); empty at
	// the start.
	After map[string]KeyValue `json:"after,omitempty"`
}

// KeyValue is a key attribute's value: one of S, N (a number's text) or
// B (base64).
type KeyValue struct {
	S *string `json:"S,omitempty"`
	N *string `json:"N,omitempty"`
	B []byte  `json:"B,omitempty"`
}

// ParseCursor reads a cursor file's content and checks it.
func ParseCursor(b []byte) (*Cursor, error) {
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("cursor: %w", err)
	}
	if c.Table == "" || c.Segments < 1 || c.Segments > MaxSegments || len(c.Positions) != c.Segments {
		return nil, errors.New("cursor: needs a table, 1 to 1000000 segments and a position for each")
	}
	for i, p := range c.Positions {
		if p.Done && len(p.After) > 0 {
			return nil, fmt.Errorf("cursor: segment %d is done and has a key", i)
		}
		for name, v := range p.After {
			n := 0
			for _, set := range []bool{v.S != nil, v.N != nil, v.B != nil} {
				if set {
					n++
				}
			}
			if n != 1 || (v.B != nil && len(v.B) == 0) {
				return nil, fmt.Errorf("cursor: segment %d: key %q must have one of S, N or B (not empty)", i, name)
			}
		}
	}
	return &c, nil
}

// ReadCursor reads the cursor file at path.
func ReadCursor(path string) (*Cursor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseCursor(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Write writes the cursor to path, whole or not at all.
func (c *Cursor) Write(path string) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("cursor: %w", err)
	}
	_, err = f.Write(b)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cursor: %w", err)
	}
	return nil
}

// keyValues is a LastEvaluatedKey as the cursor keeps it.
func keyValues(key map[string]types.AttributeValue) map[string]KeyValue {
	if len(key) == 0 {
		return nil
	}
	out := make(map[string]KeyValue, len(key))
	for name, v := range key {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			out[name] = KeyValue{S: &v.Value}
		case *types.AttributeValueMemberN:
			out[name] = KeyValue{N: &v.Value}
		case *types.AttributeValueMemberB:
			out[name] = KeyValue{B: v.Value}
		}
	}
	return out
}

// startKey is the ExclusiveStartKey of a cursor's key.
func startKey(after map[string]KeyValue) map[string]types.AttributeValue {
	if len(after) == 0 {
		return nil
	}
	out := make(map[string]types.AttributeValue, len(after))
	for name, v := range after {
		switch {
		case v.S != nil:
			out[name] = &types.AttributeValueMemberS{Value: *v.S}
		case v.N != nil:
			out[name] = &types.AttributeValueMemberN{Value: *v.N}
		default:
			out[name] = &types.AttributeValueMemberB{Value: v.B}
		}
	}
	return out
}
