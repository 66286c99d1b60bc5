package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/sluicehq/sluice"
)

// english prints the library's messages.
var english = message.NewPrinter(language.English)

// flatten turns the library's tree of errors into violations, one per
// leaf, ordered by path (then keyword); root prefixes every path ("/data"
// for an event's data). The tree's inner nodes (the whole schema, a group
// of errors, $ref, allOf) only gather leaves. A failed oneOf or anyOf is one
// violation at the value it was applied to, whose message sums up why each
// alternative failed: listing every alternative's errors as violations of
// their own would ask the sender to satisfy all of them at once.
func flatten(err *jsonschema.ValidationError, root string) []sluice.Violation {
	return sorted(leaves(nil, err, root))
}

// sorted orders vs by path, then keyword.
func sorted(vs []sluice.Violation) []sluice.Violation {
	slices.SortStableFunc(vs, func(a, b sluice.Violation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Keyword, b.Keyword)
	})
	return vs
}

// leaves appends the violations of err's leaves to vs.
func leaves(vs []sluice.Violation, err *jsonschema.ValidationError, root string) []sluice.Violation {
	path := pointer(root, err.InstanceLocation)
	switch k := err.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
		for _, c := range err.Causes {
			vs = leaves(vs, c, root)
		}
	case *kind.Required:
		// One per missing property, at the property's path.
		for _, p := range k.Missing {
			vs = append(vs, sluice.Violation{Path: path + "/" + escape(p), Keyword: "required",
				Message: fmt.Sprintf("missing required property %q", p)})
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			vs = append(vs, sluice.Violation{Path: path + "/" + escape(p), Keyword: "additionalProperties",
				Message: fmt.Sprintf("property %q is not allowed", p)})
		}
	case *kind.OneOf:
		msg := "matches none of the alternatives of oneOf"
		if len(k.Subschemas) == 2 {
			msg = fmt.Sprintf("matches alternatives %d and %d of oneOf; it must match exactly one", k.Subschemas[0], k.Subschemas[1])
		}
		vs = append(vs, sluice.Violation{Path: path, Keyword: "oneOf", Message: msg + alternatives(err, root)})
	case *kind.AnyOf:
		vs = append(vs, sluice.Violation{Path: path, Keyword: "anyOf",
			Message: "matches none of the alternatives of anyOf" + alternatives(err, root)})
	case *kind.FalseSchema:
		vs = append(vs, sluice.Violation{Path: path, Keyword: falseKeyword(err.SchemaURL), Message: "no value is allowed here"})
	default:
		vs = append(vs, sluice.Violation{Path: path, Keyword: keyword(k), Message: k.LocalizedString(english)})
	}
	return vs
}

// alternatives says why each alternative of a failed oneOf or anyOf (its
// causes, in order) failed: `: [0] /data/card/number: missing required
// property "number"; [1] ...`.
func alternatives(err *jsonschema.ValidationError, root string) string {
	var b strings.Builder
	for i, c := range err.Causes {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s[%d] %s", sep, i, describe(flatten(c, root)))
	}
	return b.String()
}

// describe puts violations on one line: "/data/a: message, /data/b: ...".
func describe(vs []sluice.Violation) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		if v.Path != "" {
			b.WriteString(v.Path + ": ")
		}
		b.WriteString(v.Message)
	}
	return b.String()
}

// keyword is the JSON Schema keyword that failed.
func keyword(k jsonschema.ErrorKind) string {
	if p := k.KeywordPath(); len(p) > 0 {
		return p[0]
	}
	switch k.(type) {
	case *kind.Not:
		return "not"
	case *kind.RefCycle:
		return "$ref"
	}
	return ""
}

// falseKeyword is the keyword that holds the false schema at location:
// unevaluatedProperties in ".../schemas/t#/unevaluatedProperties",
// properties in "...#/properties/legacy".
func falseKeyword(location string) string {
	_, ptr, _ := strings.Cut(location, "#")
	tokens := strings.Split(ptr, "/")
	last := tokens[len(tokens)-1]
	if len(tokens) > 1 {
		switch parent := tokens[len(tokens)-2]; parent {
		case "properties", "patternProperties", "dependentSchemas", "prefixItems", "allOf", "anyOf", "oneOf", "$defs":
			return parent
		}
	}
	return last
}

// pointer is the JSON pointer (RFC 6901) root + tokens.
func pointer(root string, tokens []string) string {
	var b strings.Builder
	b.WriteString(root)
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escape(t))
	}
	return b.String()
}

var escaper = strings.NewReplacer("~", "~0", "/", "~1")

// escape escapes a JSON pointer's token.
func escape(token string) string { return escaper.Replace(token) }
