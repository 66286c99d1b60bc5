package jetstream

import (
	"errors"
	"strings"
)

// encodeToken makes s one NATS subject token and one KV key: bytes of
// A-Z a-z 0-9 _ - stay as they are (most stream names read as themselves in
// the nats CLI), every other byte becomes "=" and two upper-case hex
// digits. The encoding is byte by byte, so it is reversible and the
// encoding of a prefix is a prefix of the encoding.
func encodeToken(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

var errBadToken = errors.New("not an encoded name")

// decodeToken reverses encodeToken; it refuses what encodeToken cannot
// have made, so that each name has exactly one token.
func decodeToken(t string) (string, error) {
	var b strings.Builder
	b.Grow(len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		if plainByte(c) {
			b.WriteByte(c)
			continue
		}
		if c != '=' || i+2 >= len(t) {
			return "", errBadToken
		}
		hi, lo := unhex(t[i+1]), unhex(t[i+2])
		if hi < 0 || lo < 0 {
			return "", errBadToken
		}
		d := byte(hi<<4 | lo)
		if plainByte(d) {
			return "", errBadToken
		}
		b.WriteByte(d)
		i += 2
	}
	return b.String(), nil
}

// unhex is the value of an upper-case hex digit, -1 for anything else.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
