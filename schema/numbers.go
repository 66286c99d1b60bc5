package schema

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// Limits on the JSON numbers of data and schemas. The validator computes
// with exact rationals (math/big): 1e999999 costs it about 45ms and
// 1e9999999 makes it panic. Numbers beyond these limits, which no event
// needs, are refused before it sees them.
const (
	maxNumberLen      = 100  // characters
	maxNumberExponent = 1000 // in absolute value
)

// bigNumbers returns a violation for every number in v beyond the limits,
// with paths relative to v. It allocates nothing when there is none.
func bigNumbers(v any) []sluice.Violation {
	var vs []sluice.Violation
	switch v := v.(type) {
	case json.Number:
		if !withinLimits(string(v)) {
			vs = append(vs, sluice.Violation{Message: "number too large to validate: at most " +
				strconv.Itoa(maxNumberLen) + " characters and exponents within ±" + strconv.Itoa(maxNumberExponent) + " are accepted"})
		}
	case []any:
		for i, e := range v {
			for _, x := range bigNumbers(e) {
				x.Path = "/" + strconv.Itoa(i) + x.Path
				vs = append(vs, x)
			}
		}
	case map[string]any:
		for k, e := range v {
			for _, x := range bigNumbers(e) {
				x.Path = "/" + escape(k) + x.Path
				vs = append(vs, x)
			}
		}
	}
	return vs
}

func withinLimits(n string) bool {
	if len(n) > maxNumberLen {
		return false
	}
	i := strings.IndexAny(n, "eE")
	if i < 0 {
		return true
	}
	exp, err := strconv.Atoi(n[i+1:])
	return err == nil && -maxNumberExponent <= exp && exp <= maxNumberExponent
}
