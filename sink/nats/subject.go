package nats

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice"
)

// subject is a parsed subject template: fixed text and the event's values
// in turn.
type subject struct {
	parts []part
}

// part is fixed text, or (when field is set) one of the event's values.
type part struct {
	text  string
	field string // stream, type or category
}

// parseSubject parses a template such as "sluice.{stream}": {stream},
// {type} and {category} stand for the event's values. The first token must
// be fixed text, so that no event can name a system subject ($JS.API…,
// _INBOX…), and the fixed text must keep the subject valid whatever the
// values are.
func parseSubject(s string) (subject, error) {
	var t subject
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, part{text: rest})
			break
		}
		if rest[i] == '}' {
			return subject{}, errors.New("a } without its {")
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: rest[:i]})
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return subject{}, errors.New("a { without its }")
		}
		name := rest[i+1 : i+end]
		switch name {
		case "stream", "type", "category":
		default:
			return subject{}, fmt.Errorf("{%s}: want {stream}, {type} or {category}", name)
		}
		t.parts = append(t.parts, part{field: name})
		rest = rest[i+end+1:]
	}
	if len(t.parts) == 0 {
		return subject{}, errors.New("empty")
	}
	if first := t.parts[0]; first.field != "" || !strings.Contains(first.text, ".") && len(t.parts) > 1 {
		return subject{}, errors.New("the first token must be fixed text (as in sluice.{stream}), so that no event names a system subject")
	}
	// Every value renders as at least one character and never as a dot, a
	// wildcard or a space: checking the template with "x" for each checks
	// it for every value.
	if err := checkSubject(t.render(&sluice.Event{Type: "x", Stream: "x"})); err != nil {
		return subject{}, err
	}
	return t, nil
}

// checkSubject checks a subject one publishes to: tokens separated by
// dots, none empty, no wildcard, no space or control character.
func checkSubject(s string) error {
	for tok := range strings.SplitSeq(s, ".") {
		switch {
		case tok == "":
			return fmt.Errorf("%q has an empty token", s)
		case strings.ContainsAny(tok, "*>"):
			return fmt.Errorf("%q has a wildcard: one publishes to a subject without", s)
		case strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
			return fmt.Errorf("%q has a space or a control character", s)
		}
	}
	return nil
}

// render returns the subject of e.
func (t subject) render(e *sluice.Event) string {
	if len(t.parts) == 1 {
		return t.parts[0].text
	}
	b := make([]byte, 0, 64)
	for _, p := range t.parts {
		switch p.field {
		case "":
			b = append(b, p.text...)
		case "stream":
			b = appendToken(b, e.Stream)
		case "type":
			b = appendToken(b, e.Type)
		case "category":
			b = appendToken(b, sluice.Category(e.Stream))
		}
	}
	return string(b)
}

// appendToken appends v as a part of a subject that percent-decoding
// gives back: its dots separate tokens, except a dot that would make an
// empty token (first, last, or after another), which is written %2E, as
// are '%', '*', '>', spaces, control characters and every byte of a
// non-ASCII character. An empty value (the category of a stream that
// starts with '-') is written %00: no value holds a NUL.
func appendToken(b []byte, v string) []byte {
	const hex = "0123456789ABCDEF"
	if v == "" {
		return append(b, "%00"...)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '.' && (i == 0 || i == len(v)-1 || v[i-1] == '.'):
		case c == '.':
			b = append(b, c)
			continue
		case c > ' ' && c < 0x7f && c != '%' && c != '*' && c != '>':
			b = append(b, c)
			continue
		}
		b = append(b, '%', hex[c>>4], hex[c&0xf])
	}
	return b
}
