package httpapi

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzDecodeSegment feeds bodies to the Segment decoders (a batch, and one
// message of each route) and checks what they make of them: never a panic,
// one item per message, and every event that passes the rules has an id, a
// type, and data that is one JSON object without the write key.
func FuzzDecodeSegment(f *testing.F) {
	for _, seed := range []string{
		`{"batch":[{"type":"track","event":"Order Completed","userId":"u1","messageId":"m1","timestamp":"2025-01-01T00:00:00.000Z","properties":{"total":1}}],"sentAt":"2025-01-01T00:00:01.000Z","context":{"ip":"1.2.3.4"},"writeKey":"k"}`,
		`{"batch":[{"type":"identify","anonymousId":"a","traits":{"x":[1,2]},"context":{"a":1}},{"type":"alias","userId":"u","previousId":"p"}],"integrations":{"All":false}}`,
		`{"userId":42,"event":"e","writeKey":"k","timestamp":"2025-01-01T00:00:00+0100"}`,
		`{"batch":[1,"x",null,{}]}`,
		`{"userId":"u","userId":"v"}`,
		`[]`, `{}`, ``,
	} {
		f.Add([]byte(seed))
	}
	c := Config{}.WithDefaults().Segment
	now := time.Date(2025, 1, 1, 0, 0, 2, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		if req, p := decodeSegmentBatch(body, c); p == nil {
			checkSegmentItems(t, req, c, now)
		}
		for _, typ := range []string{"track", "identify", "page", "screen", "group", "alias"} {
			if req, p := decodeSegmentMessage(body, typ, c); p == nil {
				checkSegmentItems(t, req, c, now)
			}
		}
	})
}

func checkSegmentItems(t *testing.T, req segmentRequest, c SegmentConfig, now time.Time) {
	t.Helper()
	items := req.events(c, now)
	if len(items) != len(req.messages) {
		t.Fatalf("%d items of %d messages", len(items), len(req.messages))
	}
	for i, it := range items {
		if it.Err != nil {
			if it.Err.Index != i {
				t.Fatalf("item %d: problem with index %d", i, it.Err.Index)
			}
			continue
		}
		e := it.Event
		if e.ID == "" || e.Type == "" {
			t.Fatalf("item %d: event without id or type: %+v", i, e)
		}
		var data map[string]json.RawMessage
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatalf("item %d: data %q is not a JSON object: %v", i, e.Data, err)
		}
		if _, ok := data["writeKey"]; ok {
			t.Fatalf("item %d: data %s holds the write key", i, e.Data)
		}
		if _, ok := data["receivedAt"]; !ok {
			t.Fatalf("item %d: data %s has no receivedAt", i, e.Data)
		}
	}
}
