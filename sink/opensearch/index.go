package opensearch

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// maxIndexName is the longest index name OpenSearch takes, in bytes.
const maxIndexName = 255

// indexPattern is an index name with the event's date in it: fixed text
// and the verbs %Y (year, four digits), %m (month, 01–12), %d (day of the
// month, 01–31), %H (hour, 00–23) and %% (a %), strftime's. Its parts
// alternate: fixed text, a verb, fixed text …
type indexPattern struct {
	text  []string // the fixed text before each verb, and after the last
	verbs []byte   // 'Y', 'm', 'd', 'H'
}

// formattedLen are the digits each verb writes.
var formattedLen = map[byte]int{'Y': 4, 'm': 2, 'd': 2, 'H': 2}

// parseIndexPattern reads a pattern and checks that every name it makes
// is one OpenSearch takes, and one that JSON holds as it is: lowercase
// UTF-8 without control characters, none of \ / * ? " < > | , # : or a
// space, not starting with - _ or +, not . or .., at most 255 bytes.
func parseIndexPattern(s string) (indexPattern, error) {
	var p indexPattern
	var text strings.Builder
	size := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			text.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return p, errors.New("ends with a lone %: write %% for a %")
		}
		i++
		v := s[i]
		if v == '%' {
			text.WriteByte('%')
			continue
		}
		n, ok := formattedLen[v]
		if !ok {
			return p, fmt.Errorf("%%%c: want %%Y, %%m, %%d, %%H or %%%%", v)
		}
		p.text = append(p.text, text.String())
		p.verbs = append(p.verbs, v)
		size += n + text.Len()
		text.Reset()
	}
	p.text = append(p.text, text.String())
	size += text.Len()
	fixed := strings.Join(p.text, "")
	switch {
	case size == 0:
		return p, errors.New("empty")
	case size > maxIndexName:
		return p, fmt.Errorf("makes names of %d bytes, more than the %d OpenSearch takes", size, maxIndexName)
	case strings.ToLower(fixed) != fixed:
		return p, errors.New("has upper case letters: index names are lowercase")
	case !utf8.ValidString(fixed) || strings.ContainsFunc(fixed, unicode.IsControl):
		return p, errors.New("has control characters or is not UTF-8")
	case strings.ContainsAny(fixed, `\/*?"<>|,#: `):
		return p, errors.New(`has one of \ / * ? " < > | , # : or a space, which index names cannot hold`)
	case strings.IndexAny(p.text[0], "-_+") == 0:
		return p, errors.New("starts with -, _ or +, which index names cannot")
	case len(p.verbs) == 0 && (fixed == "." || fixed == ".."):
		return p, fmt.Errorf("%q is not an index name", fixed)
	}
	return p, nil
}

// append appends the name of the index for time t (in UTC).
func (p indexPattern) append(b []byte, t time.Time) []byte {
	t = t.UTC()
	for i, v := range p.verbs {
		b = append(b, p.text[i]...)
		switch v {
		case 'Y':
			b = appendDigits(b, t.Year(), 4)
		case 'm':
			b = appendDigits(b, int(t.Month()), 2)
		case 'd':
			b = appendDigits(b, t.Day(), 2)
		case 'H':
			b = appendDigits(b, t.Hour(), 2)
		}
	}
	return append(b, p.text[len(p.text)-1]...)
}

// appendDigits appends the n last decimal digits of v ≥ 0, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	for range n {
		b = append(b, '0')
	}
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}
