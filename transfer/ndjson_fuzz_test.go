package transfer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/sluicehq/sluice/transfer"
)

// FuzzNDJSONSource: any file reads to its end without panicking, and every
// line that is not blank is an event or a reject, once.
func FuzzNDJSONSource(f *testing.F) {
	f.Add([]byte("{\"type\":\"t\",\"data\":1}\n\n  \n{\"type\":\"t\",\"data\":\nx\r\n{\"type\":\"t\",\"data\":2}"), false)
	f.Add([]byte("{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"}\n"), true)
	f.Add([]byte{0x1f, 0x8b, 0, 0}, false)
	f.Fuzz(func(t *testing.T, b []byte, cloudEvents bool) {
		src, err := transfer.NewNDJSONSource("f", bytes.NewReader(b), int64(len(b)), cloudEvents, nil)
		if err != nil {
			return // a broken gzip header
		}
		defer src.Close()
		n := 0
		for {
			batch, err := src.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return // a broken gzip stream
			}
			n += len(batch.Events) + len(batch.Rejects)
		}
		if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
			return
		}
		lines := 0
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		if n != lines {
			t.Fatalf("%d events and rejects of %d lines", n, lines)
		}
	})
}
