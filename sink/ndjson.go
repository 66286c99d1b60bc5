package sink

import "bytes"

// AppendLine appends body and a line break: one NDJSON line. A body is one
// JSON value, but the data of an event is kept as its client wrote it,
// line breaks included: outside strings (where JSON has no raw line
// breaks) they are white space, written as spaces, so that the value is
// the same on one line.
func AppendLine(b, body []byte) []byte {
	start := len(b)
	b = append(b, body...)
	for _, c := range [...]byte{'\n', '\r'} {
		for i := start; ; {
			j := bytes.IndexByte(b[i:], c)
			if j < 0 {
				break
			}
			b[i+j] = ' '
			i += j + 1
		}
	}
	return append(b, '\n')
}
