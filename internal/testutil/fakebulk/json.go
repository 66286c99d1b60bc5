package fakebulk

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// object is a JSON object whose members keep the order OpenSearch writes
// them in.
type object []member

type member struct {
	name  string
	value any
}

// appendJSON appends v as JSON: an object, a []any of them, or a string,
// int, int64 or bool.
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case object:
		b = append(b, '{')
		for i, m := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, m.name)
			b = append(b, ':')
			b = appendJSON(b, m.value)
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case string:
		q, _ := json.Marshal(v) // a string always marshals
		return append(b, q...)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case bool:
		return strconv.AppendBool(b, v)
	}
	panic(fmt.Sprintf("fakebulk: appendJSON of a %T", v))
}
