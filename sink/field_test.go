package sink_test

import (
	"encoding/json"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

func TestField(t *testing.T) {
	e := &sluice.Event{ID: "e1", Type: "order.placed", Stream: "order-42", Source: "shop",
		Data:     json.RawMessage(`{"user": {"id": "u-7", "n": 12.50, "vip": true, "tags": ["a"], "none": null, "empty": ""}}`),
		Metadata: json.RawMessage(`{"tenant": "acme"}`)}
	for _, tt := range []struct{ field, want string }{
		{"", "order-42"},
		{"stream", "order-42"},
		{"id", "e1"},
		{"type", "order.placed"},
		{"category", "order"},
		{"source", "shop"},
		{"data.user.id", "u-7"},
		{"data.user.n", "12.50"}, // a number as written
		{"data.user.vip", "true"},
		{"data.user.tags", "order-42"}, // not a scalar: the stream
		{"data.user.none", "order-42"},
		{"data.user.empty", "order-42"},
		{"data.user.missing", "order-42"},
		{"data.user.id.deeper", "order-42"},
		{"metadata.tenant", "acme"},
	} {
		f, err := sink.ParseField(tt.field)
		if err != nil {
			t.Fatalf("ParseField(%q): %v", tt.field, err)
		}
		if got := f.Value(e); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.field, got, tt.want)
		}
		if tt.field != "" && f.String() != tt.field {
			t.Errorf("%q prints as %q", tt.field, f.String())
		}
	}
	if got := (sink.Field{}).Value(&sluice.Event{Stream: "s", Data: json.RawMessage(`1`)}); got != "s" {
		t.Errorf("the zero field: %q", got)
	}
	noSource, _ := sink.ParseField("source")
	if got := noSource.Value(&sluice.Event{Stream: "s"}); got != "s" {
		t.Errorf("an event without a source: %q, want the stream", got)
	}
	for _, bad := range []string{"data", "data.", "data..x", "time", "metadata.", "Stream"} {
		if _, err := sink.ParseField(bad); err == nil {
			t.Errorf("ParseField(%q) accepted", bad)
		}
	}
}
