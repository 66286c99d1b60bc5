package dynamodb

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// plain is an item's value as plain JSON for jq: S a string, N a number as
// written, B base64 text, BOOL, NULL null, M an object, L an array, and the
// sets SS, NS, BS arrays.
func plain(v types.AttributeValue) (any, error) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value, nil
	case *types.AttributeValueMemberN:
		return json.Number(v.Value), nil
	case *types.AttributeValueMemberB:
		return base64.StdEncoding.EncodeToString(v.Value), nil
	case *types.AttributeValueMemberBOOL:
		return v.Value, nil
	case *types.AttributeValueMemberNULL:
		return nil, nil
	case *types.AttributeValueMemberM:
		return plainMap(v.Value)
	case *types.AttributeValueMemberL:
		out := make([]any, len(v.Value))
		for i, x := range v.Value {
			p, err := plain(x)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	case *types.AttributeValueMemberSS:
		return anys(v.Value, func(s string) any { return s }), nil
	case *types.AttributeValueMemberNS:
		return anys(v.Value, func(s string) any { return json.Number(s) }), nil
	case *types.AttributeValueMemberBS:
		return anys(v.Value, func(b []byte) any { return base64.StdEncoding.EncodeToString(b) }), nil
	}
	return nil, fmt.Errorf("unknown attribute value %T", v)
}

// plainMap is plain for an item or a map.
func plainMap(m map[string]types.AttributeValue) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, x := range m {
		p, err := plain(x)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = p
	}
	return out, nil
}

func anys[T any](in []T, f func(T) any) []any {
	out := make([]any, len(in))
	for i, x := range in {
		out[i] = f(x)
	}
	return out
}

// keyText is the text of an item's key attributes, in the order of names:
// the type and value of each (S, N or B, as key attributes are), so that
// different keys never give the same text.
func keyText(item map[string]types.AttributeValue, names []string) (string, error) {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		switch v := item[n].(type) {
		case *types.AttributeValueMemberS:
			fmt.Fprintf(&b, "\x00S%d:%s", len(v.Value), v.Value)
		case *types.AttributeValueMemberN:
			fmt.Fprintf(&b, "\x00N%d:%s", len(v.Value), v.Value)
		case *types.AttributeValueMemberB:
			fmt.Fprintf(&b, "\x00B%d:%s", len(v.Value), v.Value)
		default:
			return "", fmt.Errorf("key attribute %s: missing or not S, N or B", n)
		}
	}
	return b.String(), nil
}

// sortedKeys is the key schema's names, hash key first.
func sortedKeys(schema []types.KeySchemaElement) []string {
	s := slices.Clone(schema)
	slices.SortFunc(s, func(a, b types.KeySchemaElement) int {
		if a.KeyType == b.KeyType {
			return 0
		}
		if a.KeyType == types.KeyTypeHash {
			return -1
		}
		return 1
	})
	names := make([]string, len(s))
	for i, k := range s {
		names[i] = *k.AttributeName
	}
	return names
}
