package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backends"
)

// ceClient is a CloudEvents Go SDK client that sends to POST /v1/events of
// h with the write key.
func ceClient(t *testing.T, h *harness) cloudevents.Client {
	t.Helper()
	p, err := cehttp.New(cehttp.WithTarget(h.url+"/v1/events"), cehttp.WithHeader("Authorization", "Bearer "+writeKey))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cloudevents.NewClient(p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sendCE sends e with the SDK (structured mode when structured is set,
// else the SDK's default, binary) and returns the HTTP status.
func sendCE(t *testing.T, c cloudevents.Client, e cloudevents.Event, structured bool) int {
	t.Helper()
	ctx := context.Background()
	if structured {
		ctx = binding.WithForceStructured(ctx)
	}
	res := c.Send(ctx, e)
	var hr *cehttp.Result
	if !cloudevents.ResultAs(res, &hr) {
		t.Fatalf("send %s: %v", e.ID(), res)
	}
	return hr.StatusCode
}

// storedEvent reads the event with id from the log.
func storedEvent(t *testing.T, h *harness, typ, id string) sluice.Event {
	t.Helper()
	var page logPage
	h.want(get("/v1/events?limit=1000&type="+typ, adminKey), 200, &page)
	for _, e := range page.Events {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("event %s of type %s is not in the log: %+v", id, typ, page.Events)
	return sluice.Event{}
}

// metadata decodes an event's metadata.
func metadata(t *testing.T, e sluice.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Metadata, &m); err != nil {
		t.Fatalf("metadata %s: %v", e.Metadata, err)
	}
	return m
}

// TestCloudEvents_SDK sends the same events with the CloudEvents Go SDK in
// both content modes and checks that each mode stores them alike.
func TestCloudEvents_SDK(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		c := ceClient(t, h)
		for _, mode := range []struct {
			name       string
			structured bool
		}{{"Binary", false}, {"Structured", true}} {
			t.Run(mode.name, func(t *testing.T) {
				id := func(s string) string { return mode.name + "-" + s }

				t.Run("JSONData", func(t *testing.T) {
					e := cloudevents.NewEvent()
					e.SetID(id("json"))
					e.SetSource("/shop")
					e.SetType("com.example.order")
					e.SetSubject("order-7")
					e.SetExtension("stream", "order-7")
					e.SetExtension("tenant", "acme")
					if err := e.SetData(cloudevents.ApplicationJSON, map[string]any{"total": 12.5}); err != nil {
						t.Fatal(err)
					}
					if got := sendCE(t, c, e, mode.structured); got != 200 {
						t.Fatalf("status %d, want 200", got)
					}
					got := storedEvent(t, h, "com.example.order", id("json"))
					if got.Source != "/shop" || got.Stream != "order-7" || string(got.Data) != `{"total":12.5}` {
						t.Fatalf("stored %+v, want source /shop, stream order-7 and the data as sent", got)
					}
					m := metadata(t, got)
					if m["subject"] != "order-7" || m["tenant"] != "acme" || m["datacontenttype"] != "application/json" {
						t.Fatalf("metadata %s: want subject, tenant and datacontenttype", got.Metadata)
					}
				})
				t.Run("BinaryData", func(t *testing.T) {
					e := cloudevents.NewEvent()
					e.SetID(id("bytes"))
					e.SetSource("/camera")
					e.SetType("com.example.frame")
					raw := []byte{0, 1, 2, 0xff, 'x'}
					if err := e.SetData("application/octet-stream", raw); err != nil {
						t.Fatal(err)
					}
					if got := sendCE(t, c, e, mode.structured); got != 200 {
						t.Fatalf("status %d, want 200", got)
					}
					got := storedEvent(t, h, "com.example.frame", id("bytes"))
					if want := `"` + base64.StdEncoding.EncodeToString(raw) + `"`; string(got.Data) != want {
						t.Fatalf("data %s, want the base64 string %s", got.Data, want)
					}
					if m := metadata(t, got); m["data_base64"] != true {
						t.Fatalf("metadata %s: want the mark data_base64: true", got.Metadata)
					}
				})
				t.Run("NoData", func(t *testing.T) {
					e := cloudevents.NewEvent()
					e.SetID(id("empty"))
					e.SetSource("/clock")
					e.SetType("com.example.tick")
					if got := sendCE(t, c, e, mode.structured); got != 200 {
						t.Fatalf("status %d, want 200", got)
					}
					got := storedEvent(t, h, "com.example.tick", id("empty"))
					if string(got.Data) != "null" {
						t.Fatalf("data %s, want null (a CloudEvent without data)", got.Data)
					}
					if _, marked := metadata(t, got)["data_base64"]; marked {
						t.Fatalf("metadata %s: no data is not base64", got.Metadata)
					}
				})
			})
		}
	})
}

// TestCloudEvents_Binary checks the binary content mode's rules with
// requests made by hand.
func TestCloudEvents_Binary(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		ce := func(id string, extra map[string]string) map[string]string {
			hd := map[string]string{"ce-specversion": "1.0", "ce-id": id, "ce-source": "/test", "ce-type": "bin.test"}
			for k, v := range extra {
				hd[k] = v
			}
			return hd
		}
		t.Run("EnvelopeLookalike", func(t *testing.T) {
			// A body that looks like a sluice envelope is the data of a
			// binary-mode event all the same.
			body := `{"type":"other.type","data":{"x":1}}`
			var a ingestAnswer
			h.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: "application/json", body: body,
				header: ce("look-1", nil)}, 200, &a)
			got := storedEvent(t, h, "bin.test", "look-1")
			if string(got.Data) != body || got.Source != "/test" {
				t.Fatalf("stored %+v, want the body as the data of a bin.test event", got)
			}
		})
		t.Run("PercentEncoded", func(t *testing.T) {
			h.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: "application/json", body: `1`,
				header: ce("pct-1", map[string]string{"ce-subject": "caf%C3%A9 au lait", "ce-traceparent": "00-abc-01"})}, 200, nil)
			m := metadata(t, storedEvent(t, h, "bin.test", "pct-1"))
			if m["subject"] != "café au lait" || m["traceparent"] != "00-abc-01" {
				t.Fatalf("metadata %v: want the subject percent-decoded and the extension kept", m)
			}
		})
		t.Run("TextBody", func(t *testing.T) {
			h.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: "text/plain; charset=utf-8", body: "hello",
				header: ce("text-1", nil)}, 200, nil)
			got := storedEvent(t, h, "bin.test", "text-1")
			if string(got.Data) != `"aGVsbG8="` || metadata(t, got)["datacontenttype"] != "text/plain; charset=utf-8" {
				t.Fatalf("stored %+v, want base64 data and the Content-Type as datacontenttype", got)
			}
		})
		for _, tt := range []struct {
			name   string
			ct     string
			body   string
			header map[string]string
			code   string
			path   string
		}{
			{"BadVersion", "application/json", "1", ce("v-1", map[string]string{"ce-specversion": "0.3"}), "invalid_events", "/specversion"},
			{"NoSource", "application/json", "1", map[string]string{"ce-specversion": "1.0", "ce-id": "s-1", "ce-type": "bin.test"}, "invalid_events", "/source"},
			{"NoType", "application/json", "1", map[string]string{"ce-specversion": "1.0", "ce-id": "t-1", "ce-source": "/x"}, "invalid_events", "/type"},
			{"DataContentTypeHeader", "application/json", "1", ce("d-1", map[string]string{"ce-datacontenttype": "application/json"}), "invalid_events", "/datacontenttype"},
			{"BrokenJSON", "application/json", `{"a":`, ce("j-1", nil), "malformed_json", ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var p problem
				h.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: tt.ct, body: tt.body, header: tt.header}, 400, &p)
				if p.Code != tt.code || tt.path != "" && (len(p.Errors) != 1 || p.Errors[0].Path != tt.path) {
					t.Fatalf("%+v, want %s at %q", p, tt.code, tt.path)
				}
			})
		}
		t.Run("TooLarge", func(t *testing.T) {
			cfg := testConfig()
			cfg.Limits.MaxEventBytes = 64
			small := newHarness(t, open(t), cfg)
			var p problem
			small.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: "application/json",
				body: fmt.Sprintf(`"%0100d"`, 0), header: ce("big-1", nil)}, 400, &p)
			if len(p.Errors) != 1 {
				t.Fatalf("%+v, want the event refused as too large", p)
			}
		})
	})
}
