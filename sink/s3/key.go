package s3

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// positionDigits is how many digits a position takes in an object's name:
// a uint64's most, so that names sort as their positions do.
const positionDigits = 20

// suffix ends every object's name.
const suffix = ".ndjson.gz"

// ObjectName identifies an object of the archive by its name:
// PREFIX/date=YYYY-MM-DD/hour=HH/FIRST_LAST_NODE.ndjson.gz.
type ObjectName struct {
	// Hour is the hour of the first event's commit time, UTC.
	Hour time.Time
	// First and Last are the positions of its first and last events.
	First, Last sluice.Position
	// Node is the process that wrote it.
	Node string
}

// Key is the object's key under prefix (cleaned: no slash at either end).
func (n ObjectName) Key(prefix string) string {
	var b strings.Builder
	if prefix != "" {
		b.WriteString(prefix)
		b.WriteByte('/')
	}
	fmt.Fprintf(&b, "date=%s/hour=%02d/%0*d_%0*d_%s%s", n.Hour.Format(time.DateOnly), n.Hour.Hour(),
		positionDigits, n.First, positionDigits, n.Last, n.Node, suffix)
	return b.String()
}

// ParseKey reads the name of an object under prefix (cleaned).
func ParseKey(prefix, key string) (ObjectName, error) {
	var n ObjectName
	rest := key
	if prefix != "" {
		var ok bool
		if rest, ok = strings.CutPrefix(key, prefix+"/"); !ok {
			return n, fmt.Errorf("%q is not under the prefix %q", key, prefix)
		}
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return n, fmt.Errorf("%q is not date=YYYY-MM-DD/hour=HH/FIRST_LAST_NODE%s under the prefix", key, suffix)
	}
	date, okDate := strings.CutPrefix(parts[0], "date=")
	hour, okHour := strings.CutPrefix(parts[1], "hour=")
	day, err := time.Parse(time.DateOnly, date)
	h, herr := strconv.Atoi(hour)
	if !okDate || !okHour || err != nil || herr != nil || len(hour) != 2 || h > 23 {
		return n, fmt.Errorf("%q: the folders are not date=YYYY-MM-DD/hour=HH", key)
	}
	n.Hour = day.Add(time.Duration(h) * time.Hour)
	base, ok := strings.CutSuffix(parts[2], suffix)
	first, last, node := cut(base), "", ""
	if ok && len(first) == positionDigits {
		last = cut(base[positionDigits+1:])
		if len(last) == positionDigits {
			node = base[2*positionDigits+2:]
		}
	}
	f, ferr := parsePosition(first)
	l, lerr := parsePosition(last)
	if ferr != nil || lerr != nil || node == "" || nodeName(node) != node {
		return n, fmt.Errorf("%q is not named FIRST_LAST_NODE%s, with positions of %d digits", key, suffix, positionDigits)
	}
	if f == 0 || l < f {
		return n, fmt.Errorf("%q: the positions %d to %d are not a range", key, f, l)
	}
	n.First, n.Last, n.Node = f, l, node
	return n, nil
}

// cut returns s up to its first _, or "" when it has none.
func cut(s string) string {
	before, _, ok := strings.Cut(s, "_")
	if !ok {
		return ""
	}
	return before
}

// parsePosition reads a position of positionDigits digits.
func parsePosition(s string) (sluice.Position, error) {
	if len(s) != positionDigits || strings.ContainsAny(s, "+-") {
		return 0, fmt.Errorf("%q is not %d digits", s, positionDigits)
	}
	p, err := strconv.ParseUint(s, 10, 64)
	return sluice.Position(p), err
}

// cleanPrefix returns the configured prefix without slashes at its ends.
func cleanPrefix(p string) string { return strings.Trim(p, "/") }

// nodeName returns node as it goes into object names: its letters, digits,
// '.', '_' and '-', anything else replaced by '-'; "node" when empty.
func nodeName(node string) string {
	if node == "" {
		return "node"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, node)
}
