package httpapi_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/postgres"
)

// orderSchema asks for a sku and a price of at least 0.
const orderSchema = `{
  "type": "object",
  "required": ["sku", "price"],
  "properties": {
    "sku": {"type": "string", "pattern": "^SKU-[0-9]+$"},
    "price": {"type": "number", "minimum": 0}
  }
}`

// orderSchemaFixed lets the price be negative (refunds).
const orderSchemaFixed = `{"type":"object","required":["sku","price"],"properties":{"sku":{"type":"string","pattern":"^SKU-[0-9]+$"},"price":{"type":"number"}}}`

// mixedOrders is a good order, a bad one (negative price, no sku), and a
// good one.
const mixedOrders = `[
  {"id":"o1","type":"order.placed","data":{"sku":"SKU-1","price":10}},
  {"id":"o2","type":"order.placed","data":{"price":-5}},
  {"id":"o3","type":"order.placed","data":{"sku":"SKU-3","price":0}}
]`

type schemaVersion struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	Schema  any    `json:"schema"`
}

func put(path, key, body string) request {
	return request{method: "PUT", path: path, key: key, contentType: "application/json", body: body}
}

func TestSchemaRegistry(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())

		var v schemaVersion
		h.want(put("/v1/schemas/order.placed", adminKey, orderSchema), 201, &v)
		if v.Type != "order.placed" || v.Version != 1 {
			t.Fatalf("first registration: %+v", v)
		}
		// The same schema, re-indented with its members in another order.
		h.want(put("/v1/schemas/order.placed", adminKey, `{"properties":{"price":{"minimum":0,"type":"number"},"sku":{"pattern":"^SKU-[0-9]+$","type":"string"}},"required":["sku","price"],"type":"object"}`), 200, &v)
		if v.Version != 1 {
			t.Fatalf("same schema again made version %d", v.Version)
		}
		h.want(put("/v1/schemas/order.placed", adminKey, orderSchemaFixed), 201, &v)
		if v.Version != 2 {
			t.Fatalf("changed schema: version %d, want 2", v.Version)
		}
		h.want(put("/v1/schemas/page.viewed", adminKey, `{"type":"object"}`), 201, nil)

		var list struct {
			Schemas []schemaVersion `json:"schemas"`
		}
		h.want(get("/v1/schemas", readKey), 200, &list)
		if len(list.Schemas) != 2 || list.Schemas[0].Type != "order.placed" || list.Schemas[0].Version != 2 || list.Schemas[1].Type != "page.viewed" {
			t.Fatalf("list: %+v", list.Schemas)
		}
		h.want(get("/v1/schemas/order.placed", readKey), 200, &v)
		if v.Version != 2 {
			t.Fatalf("latest: %+v", v)
		}
		h.want(get("/v1/schemas/order.placed/versions/1", readKey), 200, &v)
		if m, _ := v.Schema.(map[string]any); v.Version != 1 || m["type"] != "object" {
			t.Fatalf("version 1: %+v", v)
		}

		for _, tc := range []struct {
			name   string
			req    request
			status int
			code   string
			detail string
		}{
			{"NotJSON", put("/v1/schemas/x", adminKey, `{"type":`), 400, "invalid_schema", "JSON"},
			{"DoesNotCompile", put("/v1/schemas/x", adminKey, `{"type":"objekt"}`), 400, "invalid_schema", "/type"},
			{"ExternalRef", put("/v1/schemas/x", adminKey, `{"$ref":"https://example.com/s.json"}`), 400, "invalid_schema", "example.com"},
			{"BadTypeName", put("/v1/schemas/bad%20type", adminKey, `{}`), 400, "invalid_type", "type"},
			{"WriteKey", put("/v1/schemas/x", writeKey, `{}`), 403, "role_not_allowed", ""},
			{"UnknownType", get("/v1/schemas/nothing.here", readKey), 404, "schema_not_found", ""},
			{"UnknownVersion", get("/v1/schemas/order.placed/versions/9", readKey), 404, "schema_not_found", ""},
			{"BadVersion", get("/v1/schemas/order.placed/versions/zero", readKey), 400, "invalid_parameter", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var p struct {
					Code   string `json:"code"`
					Detail string `json:"detail"`
				}
				h.want(tc.req, tc.status, &p)
				if p.Code != tc.code || !strings.Contains(p.Detail, tc.detail) {
					t.Fatalf("got %s %q, want %s with %q", p.Code, p.Detail, tc.code, tc.detail)
				}
			})
		}
	})
}

type quarantinePage struct {
	Events    []sluice.Quarantined `json:"events"`
	NextAfter int64                `json:"next_after"`
}

type replayAnswer struct {
	Replayed   int  `json:"replayed"`
	Duplicates int  `json:"duplicates"`
	More       bool `json:"more"`
	Failed     []struct {
		ID     string             `json:"id"`
		Errors []sluice.Violation `json:"errors"`
	} `json:"failed"`
	Position sluice.Position `json:"position"`
}

func TestValidation(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		h.want(put("/v1/schemas/order.placed", adminKey, orderSchema), 201, nil)

		// wantBadOrder checks the problems reported for o2 at index 1.
		wantBadOrder := func(t *testing.T, got []httpapi.EventProblem) {
			t.Helper()
			want := []httpapi.EventProblem{
				{Index: 1, ID: "o2", Path: "/data/price", Keyword: "minimum"},
				{Index: 1, ID: "o2", Path: "/data/sku", Keyword: "required"},
			}
			if len(got) != len(want) {
				t.Fatalf("problems %+v, want %+v", got, want)
			}
			for i := range want {
				g := got[i]
				if g.Index != want[i].Index || g.ID != want[i].ID || g.Path != want[i].Path || g.Keyword != want[i].Keyword || g.Message == "" {
					t.Fatalf("problem %d: %+v, want %+v with a message", i, g, want[i])
				}
			}
		}
		logTypes := func(t *testing.T) []string {
			t.Helper()
			var page logPage
			h.want(get("/v1/events?type=order.placed", readKey), 200, &page)
			var ids []string
			for _, e := range page.Events {
				ids = append(ids, e.ID)
			}
			return ids
		}

		t.Run("Atomic", func(t *testing.T) {
			var p problem
			h.want(post("/v1/events?atomic=true", writeKey, mixedOrders), 400, &p)
			wantBadOrder(t, p.Errors)
			if ids := logTypes(t); len(ids) != 0 {
				t.Fatalf("atomic request stored %v", ids)
			}
		})
		t.Run("Durable", func(t *testing.T) {
			var a struct {
				ingestAnswer
				Quarantined int `json:"quarantined"`
			}
			h.want(post("/v1/events", writeKey, mixedOrders), 200, &a)
			wantBadOrder(t, a.Rejected)
			if a.Accepted != 2 || a.Quarantined != 0 {
				t.Fatalf("durable: %+v, want 2 accepted, none quarantined", a)
			}
			if ids := logTypes(t); strings.Join(ids, ",") != "o1,o3" {
				t.Fatalf("log holds %v, want o1,o3", ids)
			}
			var q quarantinePage
			h.want(get("/v1/quarantine", readKey), 200, &q)
			if len(q.Events) != 0 {
				t.Fatalf("durable rejection quarantined without quarantine_durable: %+v", q.Events)
			}
		})
		t.Run("EveryFormat", func(t *testing.T) {
			for _, tc := range []struct{ contentType, body string }{
				{"application/x-ndjson", `{"type":"order.placed","data":{"sku":"SKU-1","price":1}}` + "\n" + `{"id":"o2","type":"order.placed","data":{"price":-5}}` + "\n"},
				{"application/cloudevents-batch+json", `[{"specversion":"1.0","id":"c1","source":"/s","type":"order.placed","data":{"sku":"SKU-1","price":1}},{"specversion":"1.0","id":"o2","source":"/s","type":"order.placed","data":{"price":-5}}]`},
				{"text/plain", `[{"type":"order.placed","data":{"sku":"SKU-1","price":1}},{"id":"o2","type":"order.placed","data":{"price":-5}}]`},
			} {
				var a ingestAnswer
				h.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: tc.contentType, body: tc.body}, 200, &a)
				wantBadOrder(t, a.Rejected)
			}
		})
		t.Run("StreamAppend", func(t *testing.T) {
			var p problem
			h.want(post("/v1/streams/order-9/events", writeKey, `[{"id":"s1","type":"order.placed","data":{"sku":"SKU-9","price":1}},{"id":"o2","type":"order.placed","data":{"price":-5}}]`), 400, &p)
			if len(p.Errors) != 2 || p.Errors[0].Path != "/data/price" || p.Errors[1].Path != "/data/sku" {
				t.Fatalf("stream append problems: %+v", p.Errors)
			}
		})

		var before time.Time
		t.Run("AsyncQuarantines", func(t *testing.T) {
			before = time.Now().Add(-time.Second)
			var a struct {
				ingestAnswer
				Quarantined int `json:"quarantined"`
			}
			h.want(post("/v1/events?ack=async", writeKey, strings.ReplaceAll(strings.ReplaceAll(mixedOrders, `"o1"`, `"o4"`), `"o3"`, `"o5"`)), 202, &a)
			wantBadOrder(t, a.Rejected)
			if a.Accepted != 2 || a.Quarantined != 1 {
				t.Fatalf("async: %+v, want 2 accepted, 1 quarantined", a)
			}
			var q quarantinePage
			h.want(get("/v1/quarantine?type=order.placed&since="+before.UTC().Format(time.RFC3339Nano), readKey), 200, &q)
			if len(q.Events) != 1 {
				t.Fatalf("quarantine holds %+v, want o2", q.Events)
			}
			got := q.Events[0]
			if got.Event.ID != "o2" || string(got.Event.Data) != `{"price":-5}` || got.Key != "web" || len(got.Reasons) != 2 || got.Reasons[0].Keyword != "minimum" {
				t.Fatalf("quarantined %+v", got)
			}
			for _, query := range []string{"type=page.viewed", "until=" + before.UTC().Format(time.RFC3339Nano), "after=" + itoa(got.Seq)} {
				h.want(get("/v1/quarantine?"+query, readKey), 200, &q)
				if len(q.Events) != 0 {
					t.Fatalf("?%s listed %+v", query, q.Events)
				}
			}
			h.want(get("/v1/quarantine?since=yesterday", readKey), 400, nil)
			h.want(get("/v1/quarantine", writeKey), 403, nil)
		})
		t.Run("Replay", func(t *testing.T) {
			var r replayAnswer
			h.want(post("/v1/quarantine/replay", adminKey, `{}`), 200, &r)
			if r.Replayed != 0 || len(r.Failed) != 1 || r.Failed[0].ID != "o2" || len(r.Failed[0].Errors) != 2 {
				t.Fatalf("replay before the fix: %+v, want o2 failing twice", r)
			}
			// A fixed schema that still needs the sku: o2 fails once.
			h.want(put("/v1/schemas/order.placed", adminKey, orderSchemaFixed), 201, nil)
			h.want(post("/v1/quarantine/replay", adminKey, `{"type":"order.placed"}`), 200, &r)
			if len(r.Failed) != 1 || len(r.Failed[0].Errors) != 1 || r.Failed[0].Errors[0].Path != "/data/sku" {
				t.Fatalf("replay with the sku still missing: %+v", r)
			}
			h.want(put("/v1/schemas/order.placed", adminKey, `{"type":"object","properties":{"price":{"type":"number"}}}`), 201, nil)
			h.want(post("/v1/quarantine/replay", writeKey, `{}`), 403, nil)
			h.want(post("/v1/quarantine/replay", adminKey, `{"ids":["o2"]}`), 200, &r)
			if r.Replayed != 1 || len(r.Failed) != 0 || r.Position == 0 {
				t.Fatalf("replay after the fix: %+v", r)
			}
			if ids := logTypes(t); !strings.Contains(strings.Join(ids, ","), "o2") {
				t.Fatalf("replayed o2 not in the log: %v", ids)
			}
			var q quarantinePage
			h.want(get("/v1/quarantine", readKey), 200, &q)
			if len(q.Events) != 0 {
				t.Fatalf("replayed event still quarantined: %+v", q.Events)
			}
			h.want(post("/v1/quarantine/replay", adminKey, `{"limit":-1}`), 400, nil)
			h.want(post("/v1/quarantine/replay", adminKey, `[1]`), 400, nil)
		})
	})
}

func TestUnknownTypes(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		t.Run("Reject", func(t *testing.T) {
			cfg := testConfig()
			cfg.Schemas.UnknownTypes = httpapi.UnknownReject
			h := newHarness(t, open(t), cfg)
			h.want(put("/v1/schemas/known", adminKey, `{"type":"integer"}`), 201, nil)
			var a ingestAnswer
			h.want(post("/v1/events", writeKey, `[{"type":"known","data":1},{"type":"stranger","data":1}]`), 200, &a)
			if a.Accepted != 1 || len(a.Rejected) != 1 || a.Rejected[0].Index != 1 || a.Rejected[0].Path != "/type" {
				t.Fatalf("%+v", a)
			}
		})
		t.Run("Quarantine", func(t *testing.T) {
			cfg := testConfig()
			cfg.Schemas.UnknownTypes = httpapi.UnknownQuarantine
			h := newHarness(t, open(t), cfg)
			var p problem
			h.want(post("/v1/events", writeKey, `{"id":"u1","type":"stranger","data":1}`), 400, &p)
			var q quarantinePage
			h.want(get("/v1/quarantine", readKey), 200, &q)
			if len(q.Events) != 1 || q.Events[0].Event.ID != "u1" {
				t.Fatalf("durable event of an unknown type not quarantined: %+v", q.Events)
			}
			// Once its type has a schema, it replays.
			h.want(put("/v1/schemas/stranger", adminKey, `{"type":"integer"}`), 201, nil)
			var r replayAnswer
			h.want(post("/v1/quarantine/replay", adminKey, `{}`), 200, &r)
			if r.Replayed != 1 {
				t.Fatalf("%+v", r)
			}
		})
		t.Run("QuarantineDurable", func(t *testing.T) {
			cfg := testConfig()
			cfg.Schemas.QuarantineDurable = true
			cfg.Schemas.QuarantineMaxEvents = 5
			h := newHarness(t, open(t), cfg)
			h.want(put("/v1/schemas/n", adminKey, `{"type":"integer"}`), 201, nil)
			for i := range 12 {
				h.want(post("/v1/events", writeKey, `{"id":"bad`+itoa(int64(i))+`","type":"n","data":"x"}`), 400, nil)
			}
			var q quarantinePage
			h.want(get("/v1/quarantine", readKey), 200, &q)
			if len(q.Events) > 5 || q.Events[len(q.Events)-1].Event.ID != "bad11" {
				t.Fatalf("quarantine of at most 5 keeps %d, the newest last: %+v", len(q.Events), q.Events)
			}
			_, _, metrics := h.do(get("/metrics", adminKey))
			for _, want := range []string{`sluice_schema_validations_total{outcome="invalid",type="n"} 12`, `sluice_quarantined_events_total{type="n"} 12`} {
				if !strings.Contains(string(metrics), want) {
					t.Fatalf("metrics lack %s", want)
				}
			}
			var replay replayAnswer
			h.want(post("/v1/quarantine/replay", adminKey, `{"limit":1}`), 200, &replay)
			if !replay.More || len(replay.Failed) != 1 {
				t.Fatalf("limited replay: %+v", replay)
			}
		})
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSchemas_TwoNodes: a schema registered through one process takes
// effect in another sharing the PostgreSQL database within a second.
func TestSchemas_TwoNodes(t *testing.T) {
	url, pgSchema := testutil.PostgresSchema(t)
	open := func() sluice.Store {
		s, err := postgres.Open(context.Background(), postgres.Options{URL: url, Schema: pgSchema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := newHarness(t, open(), testConfig()), newHarness(t, open(), testConfig())
	b.want(post("/v1/events", writeKey, `{"type":"n","data":"x"}`), 200, nil)
	a.want(put("/v1/schemas/n", adminKey, `{"type":"integer"}`), 201, nil)
	registered := time.Now()
	testutil.Eventually(t, time.Second, func() bool {
		code, _, _ := b.do(post("/v1/events", writeKey, `{"type":"n","data":"x"}`))
		return code == 400
	}, "the other node still accepts a string for a type whose schema wants an integer")
	t.Logf("the other node applied the schema after %v", time.Since(registered))
}
