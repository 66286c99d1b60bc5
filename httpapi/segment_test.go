package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
)

// basicAuth is the Authorization header analytics-node sends: the write
// key as the Basic user name, an empty password.
func basicAuth(key string) map[string]string {
	return map[string]string{"Authorization": "Basic " + basic(key)}
}

// segmentPost is a Segment call with the write key as Basic user.
func segmentPost(path, body string) request {
	return request{method: "POST", path: path, contentType: "application/json", body: body, header: basicAuth(writeKey)}
}

// segmentAnswer is the answer of the Segment routes.
type segmentAnswer struct {
	Success    bool                   `json:"success"`
	Accepted   int                    `json:"accepted"`
	Duplicates int                    `json:"duplicates"`
	Rejected   []httpapi.EventProblem `json:"rejected"`
}

// segmentData decodes a stored Segment event's data, the normalized message.
func segmentData(t *testing.T, e sluice.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Data, &m); err != nil {
		t.Fatalf("data %s: %v", e.Data, err)
	}
	return m
}

func TestSegment_Routes(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		for _, tt := range []struct {
			path, body, typ string
		}{
			{"/v1/track", `{"userId":"u1","event":"Order Completed","properties":{"total":3}}`, "segment.track.Order_Completed"},
			{"/v1/t", `{"anonymousId":"a1","event":"Signed Up"}`, "segment.track.Signed_Up"},
			{"/v1/identify", `{"userId":"u1","traits":{"plan":"pro"}}`, "segment.identify"},
			{"/v1/i", `{"userId":"u1"}`, "segment.identify"},
			{"/v1/page", `{"userId":"u1","name":"Home"}`, "segment.page"},
			{"/v1/p", `{"userId":"u1"}`, "segment.page"},
			{"/v1/screen", `{"userId":"u1","name":"Cart"}`, "segment.screen"},
			{"/v1/s", `{"userId":"u1"}`, "segment.screen"},
			{"/v1/group", `{"userId":"u1","groupId":"g1"}`, "segment.group"},
			{"/v1/g", `{"userId":"u1","groupId":"g1"}`, "segment.group"},
			{"/v1/alias", `{"userId":"u1","previousId":"a1"}`, "segment.alias"},
			{"/v1/a", `{"userId":"u1","previousId":"a1"}`, "segment.alias"},
		} {
			t.Run(strings.TrimPrefix(tt.path, "/v1/"), func(t *testing.T) {
				id := "m-" + strings.TrimPrefix(tt.path, "/v1/")
				body := strings.Replace(tt.body, "{", `{"messageId":"`+id+`",`, 1)
				var a segmentAnswer
				h.want(segmentPost(tt.path, body), 200, &a)
				if !a.Success || a.Accepted != 1 {
					t.Fatalf("%+v, want success and one accepted", a)
				}
				e := storedEvent(t, h, tt.typ, id)
				if e.Source != "web" {
					t.Fatalf("source %q, want the key's name", e.Source)
				}
			})
		}
		t.Run("Batch", func(t *testing.T) {
			for _, path := range []string{"/v1/batch", "/v1/b", "/v1/import"} {
				body := fmt.Sprintf(`{"batch":[{"type":"track","event":"Viewed","userId":"u2","messageId":"%[1]s-1"},{"type":"identify","userId":"u2","messageId":"%[1]s-2"}]}`, path)
				var a segmentAnswer
				h.want(segmentPost(path, body), 200, &a)
				if a.Accepted != 2 {
					t.Fatalf("%s: %+v, want 2 accepted", path, a)
				}
			}
		})
	})
}

func TestSegment_Mapping(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		before := time.Now().UTC()
		// The client's clock is 10 minutes fast: sentAt and timestamp
		// both say so, and the timestamp is corrected by the difference.
		body := `{"writeKey":"` + writeKey + `","sentAt":"2030-01-01T00:10:00.000Z",
			"context":{"library":{"name":"analytics-node"},"ip":"10.0.0.1"},"integrations":{"All":true},
			"batch":[
			 {"type":"track","event":"Order Completed","userId":"u-7","anonymousId":"anon-1","messageId":"map-1",
			  "timestamp":"2030-01-01T00:09:00.000Z","properties":{"total":12.5},"context":{"ip":"10.0.0.2"},"receivedAt":"forged"},
			 {"type":"page","anonymousId":"anon-2","messageId":"map-2","name":"Pricing"},
			 {"type":"identify","userId":"u-8"}]}`
		var a segmentAnswer
		h.want(request{method: "POST", path: "/v1/batch", contentType: "text/plain", body: body}, 200, &a)
		if a.Accepted != 3 {
			t.Fatalf("%+v, want 3 accepted", a)
		}

		e := storedEvent(t, h, "segment.track.Order_Completed", "map-1")
		if e.Stream != "user-u-7" || e.Source != "web" {
			t.Fatalf("stream %q source %q, want user-u-7 (userId wins over anonymousId) and web", e.Stream, e.Source)
		}
		d := segmentData(t, e)
		if _, ok := d["writeKey"]; ok {
			t.Fatalf("data %s holds the write key", e.Data)
		}
		ctx := d["context"].(map[string]any)
		if ctx["ip"] != "10.0.0.2" || ctx["library"] == nil || d["integrations"].(map[string]any)["All"] != true {
			t.Fatalf("data %s: want the batch's context and integrations merged, the message's own members winning", e.Data)
		}
		if d["type"] != "track" || d["messageId"] != "map-1" || d["originalTimestamp"] != "2030-01-01T00:09:00.000Z" || d["sentAt"] != "2030-01-01T00:10:00.000Z" {
			t.Fatalf("data %s: want type, messageId, originalTimestamp and the batch's sentAt", e.Data)
		}
		received, err := time.Parse(time.RFC3339, d["receivedAt"].(string))
		if err != nil || received.Before(before.Truncate(time.Millisecond)) || received.After(time.Now()) {
			t.Fatalf("receivedAt %v (%v), want the server's time", d["receivedAt"], err)
		}
		ts, _ := time.Parse(time.RFC3339, d["timestamp"].(string))
		if got := received.Sub(ts); got != time.Minute {
			t.Fatalf("timestamp %v is %v before receivedAt, want 1m (sentAt − timestamp)", ts, got)
		}
		if e.Time != d["timestamp"] {
			t.Fatalf("the event's time %q, want the corrected timestamp %q", e.Time, d["timestamp"])
		}

		p := storedEvent(t, h, "segment.page", "map-2")
		if p.Stream != "anonymous-anon-2" {
			t.Fatalf("stream %q, want anonymous-anon-2", p.Stream)
		}
		if d := segmentData(t, p); d["timestamp"] != d["receivedAt"] {
			t.Fatalf("data %s: without a timestamp, timestamp is receivedAt", p.Data)
		}

		// A message without messageId gets one, the same as the event's id.
		var page logPage
		h.want(get("/v1/events?type=segment.identify", adminKey), 200, &page)
		if len(page.Events) != 1 || page.Events[0].ID == "" || segmentData(t, page.Events[0])["messageId"] != page.Events[0].ID {
			t.Fatalf("identify stored as %+v, want an assigned messageId that is the event's id", page.Events)
		}

		t.Run("RetriedBatchIsStoredOnce", func(t *testing.T) {
			var a segmentAnswer
			h.want(request{method: "POST", path: "/v1/batch", contentType: "text/plain", body: body}, 200, &a)
			if a.Accepted != 1 || a.Duplicates != 2 {
				t.Fatalf("%+v, want the two messages with a messageId reported as duplicates", a)
			}
		})
	})
}

func TestSegment_Config(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		cfg := testConfig()
		cfg.Segment = httpapi.SegmentConfig{TypePrefix: "seg:", TrackOneType: true, Stream: httpapi.SegmentStreamType}
		h := newHarness(t, open(t), cfg)
		h.want(segmentPost("/v1/track", `{"userId":"u1","event":"Clicked","messageId":"cfg-1"}`), 200, nil)
		e := storedEvent(t, h, "seg:track", "cfg-1")
		if e.Stream != "seg:track" {
			t.Fatalf("stream %q, want the type", e.Stream)
		}
	})
	if err := (httpapi.Config{Keys: testConfig().Keys, Segment: httpapi.SegmentConfig{Stream: "nope", Protocol: "ftp", APIHost: "http://x", MaxBatchBytes: -1}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "segment.stream:") || !strings.Contains(err.Error(), "segment.protocol:") ||
		!strings.Contains(err.Error(), "segment.api_host:") || !strings.Contains(err.Error(), "segment.max_batch_bytes:") {
		t.Fatalf("Validate: %v, want every segment problem", err)
	}
}

func TestSegment_Rules(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		cfg := testConfig()
		cfg.Segment.MaxMessageBytes = 300
		cfg.Segment.MaxBatchBytes = 2000
		cfg.Segment.MaxBatchMessages = 3
		h := newHarness(t, open(t), cfg)
		for _, tt := range []struct {
			name, path, body, code, at string
		}{
			{"NoUser", "/v1/track", `{"event":"x"}`, "invalid_events", "/userId"},
			{"NoEvent", "/v1/track", `{"userId":"u"}`, "invalid_events", "/event"},
			{"NoGroupID", "/v1/group", `{"userId":"u"}`, "invalid_events", "/groupId"},
			{"NoPreviousID", "/v1/alias", `{"userId":"u"}`, "invalid_events", "/previousId"},
			{"BadTimestamp", "/v1/identify", `{"userId":"u","timestamp":"yesterday"}`, "invalid_events", "/timestamp"},
			{"ContextNotObject", "/v1/identify", `{"userId":"u","context":[]}`, "invalid_events", "/context"},
			{"UserIDNotString", "/v1/identify", `{"userId":true}`, "invalid_events", "/userId"},
			{"Twice", "/v1/identify", `{"userId":"u","userId":"v"}`, "invalid_events", "/userId"},
			{"NoTypeInBatch", "/v1/batch", `{"batch":[{"userId":"u"}]}`, "invalid_events", "/type"},
			{"ShortTypeInBatch", "/v1/batch", `{"batch":[{"type":"t","userId":"u","event":"e"}]}`, "invalid_events", "/type"},
			{"MessageTooLarge", "/v1/identify", `{"userId":"u","traits":{"bio":"` + strings.Repeat("x", 300) + `"}}`, "invalid_events", ""},
			{"NotAnObject", "/v1/track", `[1]`, "invalid_batch", ""},
			{"NoBatch", "/v1/batch", `{"messages":[]}`, "invalid_batch", ""},
			{"EmptyBatch", "/v1/batch", `{"batch":[]}`, "no_events", ""},
			{"TooManyMessages", "/v1/batch", `{"batch":[{},{},{},{}]}`, "too_many_events", ""},
			{"BodyTooLarge", "/v1/batch", `{"batch":[{"userId":"` + strings.Repeat("x", 2000) + `"}]}`, "payload_too_large", ""},
			{"Malformed", "/v1/track", `{"userId":`, "malformed_json", ""},
			{"Empty", "/v1/track", ``, "empty_body", ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var p problem
				h.want(segmentPost(tt.path, tt.body), 400, &p)
				if p.Code != tt.code {
					t.Fatalf("%+v, want code %s", p, tt.code)
				}
				if tt.code == "invalid_events" && (len(p.Errors) != 1 || p.Errors[0].Path != tt.at) {
					t.Fatalf("errors %+v, want one at %q", p.Errors, tt.at)
				}
			})
		}
		t.Run("PartialBatch", func(t *testing.T) {
			var a segmentAnswer
			h.want(segmentPost("/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"ok","messageId":"pb-1"},{"type":"track","userId":"u","messageId":"pb-2"},{"type":"identify","anonymousId":"a","messageId":"pb-3"}]}`), 200, &a)
			if a.Accepted != 2 || len(a.Rejected) != 1 || a.Rejected[0].Index != 1 || a.Rejected[0].ID != "pb-2" || a.Rejected[0].Path != "/event" {
				t.Fatalf("%+v, want 2 stored and message 1 (pb-2) refused at /event", a)
			}
		})
	})
}

func TestSegment_Bodies(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		zipped := func(s string) string {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			io.WriteString(zw, s)
			zw.Close()
			return buf.String()
		}
		for _, tt := range []struct {
			name, id string
			req      request
		}{
			{"GzipMislabelled", "gz-1", request{method: "POST", path: "/v1/track", contentType: "application/x-www-form-urlencoded", header: mergeHeaders(basicAuth(writeKey), map[string]string{"Content-Encoding": "gzip"}),
				body: zipped(`{"userId":"u","event":"Zipped","messageId":"gz-1"}`)}},
			{"GzipWithoutEncoding", "gz-2", request{method: "POST", path: "/v1/track", contentType: "application/json", header: basicAuth(writeKey),
				body: zipped(`{"userId":"u","event":"Zipped","messageId":"gz-2"}`)}},
			{"TextPlainKeyInBody", "gz-3", request{method: "POST", path: "/v1/t", contentType: "text/plain",
				body: `{"writeKey":"` + writeKey + `","userId":"u","event":"Zipped","messageId":"gz-3"}`}},
			{"KeyInQuery", "gz-4", request{method: "POST", path: "/v1/track?writeKey=" + writeKey, contentType: "application/json",
				body: `{"userId":"u","event":"Zipped","messageId":"gz-4"}`}},
			{"NoContentType", "gz-5", request{method: "POST", path: "/v1/track", header: basicAuth(writeKey),
				body: `{"userId":"u","event":"Zipped","messageId":"gz-5"}`}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h.want(tt.req, 200, nil)
				if d := segmentData(t, storedEvent(t, h, "segment.track.Zipped", tt.id)); d["writeKey"] != nil {
					t.Fatalf("data %v holds the write key", d)
				}
			})
		}
		t.Run("Keys", func(t *testing.T) {
			var p problem
			h.want(request{method: "POST", path: "/v1/track", contentType: "text/plain", body: `{"userId":"u","event":"e"}`}, 401, &p)
			if p.Code != "missing_key" {
				t.Fatalf("%+v", p)
			}
			h.want(request{method: "POST", path: "/v1/track", contentType: "text/plain", body: `{"writeKey":"nope-nope-nope-nope","userId":"u","event":"e"}`}, 401, &p)
			if p.Code != "unknown_key" {
				t.Fatalf("%+v", p)
			}
			h.want(request{method: "POST", path: "/v1/track", header: basicAuth(readKey), body: `{"userId":"u","event":"e"}`}, 403, &p)
		})
	})
}

// mergeHeaders returns the headers of a and b.
func mergeHeaders(a, b map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func TestSegment_Browser(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		cfg := testConfig()
		cfg.Keys[3].Types = nil // the browser key, from https://shop.example.com
		cfg.Segment.APIHost = "collect.example.com"
		cfg.Segment.Protocol = "https"
		h := newHarness(t, open(t), cfg)
		origin := map[string]string{"Origin": "https://shop.example.com"}
		t.Run("CORS", func(t *testing.T) {
			hd := h.want(request{method: "POST", path: "/v1/t", contentType: "text/plain", header: origin,
				body: `{"writeKey":"` + browserKey + `","anonymousId":"a","event":"Clicked"}`}, 200, nil)
			if hd.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
				t.Fatalf("headers %v, want CORS for the key's origin", hd)
			}
			var p problem
			h.want(request{method: "POST", path: "/v1/t", contentType: "text/plain", header: map[string]string{"Origin": "https://evil.example.com"},
				body: `{"writeKey":"` + browserKey + `","anonymousId":"a","event":"Clicked"}`}, 403, &p)
			code, hd, _ := h.do(request{method: "OPTIONS", path: "/v1/t", header: mergeHeaders(origin, map[string]string{
				"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type,x-retry-count"})})
			if code != 204 || !strings.Contains(hd.Get("Access-Control-Allow-Headers"), "X-Retry-Count") {
				t.Fatalf("preflight %d %v, want 204 allowing Authorization and X-Retry-Count", code, hd)
			}
		})
		t.Run("Settings", func(t *testing.T) {
			var s struct {
				Integrations map[string]struct{ APIKey, APIHost, Protocol string } `json:"integrations"`
			}
			hd := h.want(request{method: "GET", path: "/v1/projects/" + browserKey + "/settings", header: origin}, 200, &s)
			got := s.Integrations["Segment.io"]
			if got.APIKey != browserKey || got.APIHost != "collect.example.com/v1" || got.Protocol != "https" || hd.Get("Access-Control-Allow-Origin") == "" {
				t.Fatalf("settings %+v, headers %v: want apiHost collect.example.com/v1 over https, readable by the page", s, hd)
			}
			var p problem
			h.want(request{method: "GET", path: "/v1/projects/not-a-key/settings"}, 404, &p)
			h.want(request{method: "GET", path: "/v1/projects/" + readKey + "/settings"}, 404, &p)
		})
		t.Run("Metrics", func(t *testing.T) {
			h.want(request{method: "POST", path: "/v1/m", contentType: "text/plain",
				body: `{"series":[{"type":"Counter","metric":"analytics_js.invoke","value":1,"tags":{}},{"type":"Counter","metric":"x","value":1,"tags":{}}]}`}, 200, nil)
			_, _, body := h.do(get("/metrics", adminKey))
			if !strings.Contains(string(body), "sluice_segment_client_metrics_total 2") {
				t.Fatalf("/metrics does not count the two series:\n%s", body)
			}
			var page logPage
			h.want(get("/v1/events?limit=1000", adminKey), 200, &page)
			for _, e := range page.Events {
				if strings.Contains(string(e.Data), "analytics_js.invoke") {
					t.Fatalf("the metrics were stored: %+v", e)
				}
			}
		})
	})
}

func TestSegment_TrackingPlan(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		h.want(request{method: "PUT", path: "/v1/schemas/segment.track.Order_Completed", key: adminKey, contentType: "application/json",
			body: `{"type":"object","required":["properties"],"properties":{"properties":{"type":"object","required":["total"],"properties":{"total":{"type":"number","minimum":0}}}}}`}, 201, nil)
		var p problem
		h.want(segmentPost("/v1/track", `{"userId":"u","event":"Order Completed","properties":{"total":-1}}`), 400, &p)
		if len(p.Errors) != 1 || p.Errors[0].Path != "/data/properties/total" || p.Errors[0].Keyword != "minimum" {
			t.Fatalf("%+v, want the violation at /data/properties/total", p)
		}
		var a segmentAnswer
		h.want(segmentPost("/v1/batch", `{"batch":[{"type":"track","userId":"u","event":"Order Completed","properties":{"total":5}},{"type":"track","userId":"u","event":"Order Completed","properties":{}}]}`), 200, &a)
		if a.Accepted != 1 || len(a.Rejected) != 1 || a.Rejected[0].Index != 1 {
			t.Fatalf("%+v, want the plan's violation refused and the other stored", a)
		}
	})
}

func TestSegment_RateLimited(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		cfg := testConfig()
		cfg.Keys[1].Rate, cfg.Keys[1].Burst = 0.001, 1
		h := newHarness(t, open(t), cfg)
		h.want(segmentPost("/v1/track", `{"userId":"u","event":"e"}`), 200, nil)
		hd := h.want(segmentPost("/v1/track", `{"userId":"u","event":"e"}`), 429, nil)
		if hd.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	})
}
