package httpapi_test

import (
	"bytes"
	"testing"

	"github.com/sluicehq/sluice/httpapi"
)

// FuzzDecodeLine: any line decodes or fails without panicking, and a
// stored event that decodes, written again as the log API writes it,
// decodes to the same event.
func FuzzDecodeLine(f *testing.F) {
	f.Add([]byte(`{"id":"a","type":"t","stream":"s","source":"x","time":"2026-12-03T10:00:00Z","data":{"n":[1,"\u00e9"]},"metadata":{"m":1},"position":7,"version":2,"recorded_at":"2026-12-03T10:00:00.5Z"}`), false)
	f.Add([]byte(`{"type":"t","data":null,"position":null}`), false)
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"/s","type":"t","data_base64":"AAE=","x":true}`), true)
	f.Add([]byte(`{"type":"t","data":1,"position":-1}`), false)
	f.Fuzz(func(t *testing.T, line []byte, cloudEvents bool) {
		e, err := httpapi.DecodeLine(line, cloudEvents)
		if err != nil || cloudEvents {
			return
		}
		again, err := httpapi.DecodeLine(e.AppendJSON(nil), false)
		if err != nil {
			t.Fatalf("%s written again does not decode: %v", e.AppendJSON(nil), err)
		}
		if again.ID != e.ID || again.Type != e.Type || again.Stream != e.Stream || again.Source != e.Source || again.Time != e.Time ||
			!bytes.Equal(again.Data, e.Data) || !bytes.Equal(again.Metadata, e.Metadata) || again.Position != e.Position ||
			again.Version != e.Version || !again.RecordedAt.Equal(e.RecordedAt) {
			t.Fatalf("%s decoded again as %s", e.AppendJSON(nil), again.AppendJSON(nil))
		}
	})
}
