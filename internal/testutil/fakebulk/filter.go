package fakebulk

import (
	"errors"
	"path"
	"strings"
)

// filterPath is a filter_path: the answer keeps the members each path
// names, arrays looked through.
type filterPath [][]string

// parseFilterPath reads filter_path's comma-separated paths; nil for
// none.
func parseFilterPath(s string) (filterPath, error) {
	if s == "" {
		return nil, nil
	}
	var f filterPath
	for p := range strings.SplitSeq(s, ",") {
		if strings.HasPrefix(p, "-") || strings.Contains(p, "**") {
			return nil, errors.New("fakebulk: filter_path exclusions and ** are not implemented")
		}
		segs := strings.Split(p, ".")
		for _, seg := range segs {
			if _, err := path.Match(seg, ""); seg == "" || err != nil {
				return nil, errors.New("fakebulk: filter_path [" + s + "] is not dotted names and * wildcards")
			}
		}
		f = append(f, segs)
	}
	return f, nil
}

// apply returns what of v the paths keep, nil when nothing.
func (f filterPath) apply(v any) any {
	for _, p := range f {
		if len(p) == 0 {
			return v // a path that ends here keeps all of v
		}
	}
	switch v := v.(type) {
	case object:
		var out object
		for _, m := range v {
			var sub filterPath
			for _, p := range f {
				if ok, _ := path.Match(p[0], m.name); ok {
					sub = append(sub, p[1:])
				}
			}
			if sub == nil {
				continue
			}
			if kept := sub.apply(m.value); kept != nil {
				out = append(out, member{m.name, kept})
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		var out []any
		for _, e := range v {
			if kept := f.apply(e); kept != nil {
				out = append(out, kept)
			}
		}
		if out == nil {
			return nil
		}
		return out
	}
	return nil
}
