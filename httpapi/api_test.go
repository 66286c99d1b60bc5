package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
)

func TestIngest(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())

		var a ingestAnswer
		h.want(post("/v1/events", writeKey, `{"id":"e1","type":"page.viewed","data":{"url":"/"}}`), 200, &a)
		if a.Accepted != 1 || a.Position != 1 || len(a.Rejected) != 0 {
			t.Fatalf("one envelope: %+v", a)
		}
		h.want(post("/v1/events", writeKey, `[{"id":"e1","type":"page.viewed","data":1},{"type":"order.placed","stream":"order-1","data":{"total":2}}]`), 200, &a)
		if a.Accepted != 1 || a.Duplicates != 1 || a.Position != 2 {
			t.Fatalf("array with a duplicate: %+v, want 1 accepted, 1 duplicate, position 2", a)
		}

		t.Run("NDJSON", func(t *testing.T) {
			var a ingestAnswer
			h.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: "application/x-ndjson",
				body: "{\"type\":\"click\",\"data\":1}\n{\"type\":\"click\",\"data\":2}\n"}, 200, &a)
			if a.Accepted != 2 {
				t.Fatalf("%+v", a)
			}
		})
		t.Run("CloudEvents", func(t *testing.T) {
			var a ingestAnswer
			h.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: "application/cloudevents+json",
				body: `{"specversion":"1.0","id":"ce-1","source":"/shop","type":"com.example.order","data":{"a":1}}`}, 200, &a)
			h.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: "application/cloudevents-batch+json",
				body: `[{"specversion":"1.0","id":"ce-2","source":"/shop","type":"com.example.order","data":{"a":2}}]`}, 200, &a)
			var page logPage
			h.want(get("/v1/events?type=com.example.order", adminKey), 200, &page)
			if len(page.Events) != 2 || page.Events[0].ID != "ce-1" || page.Events[0].Source != "/shop" {
				t.Fatalf("CloudEvents stored as %+v", page.Events)
			}
		})
		t.Run("Gzip", func(t *testing.T) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			fmt.Fprint(zw, `{"type":"zipped","data":{"n":1}}`)
			zw.Close()
			var a ingestAnswer
			h.want(request{method: "POST", path: "/v1/events", key: writeKey, contentType: "application/json",
				body: buf.String(), header: map[string]string{"Content-Encoding": "gzip"}}, 200, &a)
			if a.Accepted != 1 {
				t.Fatalf("%+v", a)
			}
		})
		t.Run("SomeInvalid", func(t *testing.T) {
			var a ingestAnswer
			h.want(post("/v1/events", writeKey, `[{"type":"ok","data":1},{"type":"bad type","data":1},{"type":"ok"}]`), 200, &a)
			if a.Accepted != 1 || len(a.Rejected) != 2 || a.Rejected[0].Index != 1 || a.Rejected[0].Path != "/type" || a.Rejected[1].Index != 2 || a.Rejected[1].Path != "/data" {
				t.Fatalf("%+v, want events 1 (/type) and 2 (/data) rejected", a)
			}
		})
		t.Run("AllInvalid", func(t *testing.T) {
			var p problem
			h.want(post("/v1/events", writeKey, `[{"type":"bad type","data":1}]`), 400, &p)
			if p.Code != "invalid_events" || len(p.Errors) != 1 {
				t.Fatalf("%+v", p)
			}
		})
		t.Run("Atomic", func(t *testing.T) {
			before := head(t, h)
			var p problem
			h.want(post("/v1/events?atomic=true", writeKey, `[{"type":"ok","data":1},{"type":"ok","data":{]`), 400, &p)
			h.want(post("/v1/events?atomic=true", writeKey, `[{"type":"ok","data":1},{"type":"","data":1}]`), 400, &p)
			if p.Code != "invalid_events" || p.Errors[0].Index != 1 {
				t.Fatalf("%+v", p)
			}
			if after := head(t, h); after != before {
				t.Fatalf("head moved from %d to %d: an atomic request stored something", before, after)
			}
		})
		t.Run("Async", func(t *testing.T) {
			var a ingestAnswer
			h.want(post("/v1/events?ack=async", writeKey, `{"id":"async-1","type":"later","data":1}`), 202, &a)
			if a.Accepted != 1 {
				t.Fatalf("%+v", a)
			}
			var page logPage
			testutil.Eventually(t, 10*time.Second, func() bool {
				h.want(get("/v1/events?type=later", adminKey), 200, &page)
				return len(page.Events) == 1
			}, "the async event is stored")
		})
		t.Run("Metadata", func(t *testing.T) {
			var a ingestAnswer
			h.want(post("/v1/events", writeKey, `{"type":"meta","data":1,"metadata":{"correlation_id":"c-1"}}`), 200, &a)
			var page logPage
			h.want(get(fmt.Sprintf("/v1/events?after=%d&limit=1", a.Position-1), adminKey), 200, &page)
			e := page.Events[0]
			if e.Source != "web" || !strings.Contains(string(e.Metadata), `"correlation_id":"c-1"`) || !strings.Contains(string(e.Metadata), `"received_at":"`) {
				t.Fatalf("stored %+v, want source web and metadata with correlation_id and received_at", e)
			}
		})
		t.Run("BadRequests", func(t *testing.T) {
			for _, tt := range []struct {
				req    request
				status int
				code   string
			}{
				{post("/v1/events", writeKey, `{"type":`), 400, "malformed_json"},
				{post("/v1/events?ack=maybe", writeKey, `{"type":"a","data":1}`), 400, "invalid_parameter"},
				{request{method: "POST", path: "/v1/events", key: writeKey, contentType: "application/xml", body: "<a/>"}, 415, "unsupported_media_type"},
				{get("/v1/nothing", adminKey), 404, "not_found"},
				{request{method: "DELETE", path: "/v1/events", key: adminKey}, 405, "method_not_allowed"},
			} {
				var p problem
				h.want(tt.req, tt.status, &p)
				if p.Code != tt.code {
					t.Errorf("%s %s: code %q, want %q", tt.req.method, tt.req.path, p.Code, tt.code)
				}
			}
		})
	})
}

func TestStreams(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		var ok struct {
			Position sluice.Position `json:"position"`
			Version  uint64          `json:"version"`
		}
		h.want(post("/v1/streams/order-1/events?expected_version=no_stream", writeKey, `[{"type":"placed","data":1},{"type":"paid","data":2}]`), 201, &ok)
		if ok.Position != 2 || ok.Version != 2 {
			t.Fatalf("%+v, want position 2 version 2", ok)
		}
		var p problem
		h.want(post("/v1/streams/order-1/events?expected_version=1", writeKey, `{"type":"shipped","data":3}`), 409, &p)
		if p.Code != "wrong_expected_version" || p.CurrentVersion == nil || *p.CurrentVersion != 2 {
			t.Fatalf("%+v, want wrong_expected_version with current version 2", p)
		}
		h.want(post("/v1/streams/order-1/events?expected_version=2", writeKey, `{"type":"shipped","data":3}`), 201, &ok)
		h.want(post("/v1/streams/order-1/events?expected_version=soon", writeKey, `{"type":"x","data":3}`), 400, &p)
		h.want(post("/v1/streams/order-1/events", writeKey, `[{"type":"x","data":3},{"type":"x"}]`), 400, &p)
		if p.Errors[0].Index != 1 {
			t.Fatalf("%+v", p)
		}
		h.want(post("/v1/streams/order-1/events", writeKey, `{"type":"x","stream":"order-2","data":3}`), 400, &p)
		h.want(post("/v1/streams/"+strings.Repeat("s", 257)+"/events", writeKey, `{"type":"x","data":3}`), 400, &p)
		if p.Code != "invalid_stream" {
			t.Fatalf("a stream name of 257 bytes: %+v", p)
		}

		var page struct {
			Events []sluice.Event `json:"events"`
			Next   *string        `json:"next"`
		}
		h.want(get("/v1/streams/order-1/events?limit=2", readKey), 200, &page)
		if len(page.Events) != 2 || page.Events[1].Version != 2 || page.Next == nil {
			t.Fatalf("%+v", page)
		}
		h.want(get(*page.Next, readKey), 200, &page)
		if len(page.Events) != 1 || page.Events[0].Type != "shipped" {
			t.Fatalf("second page %+v", page.Events)
		}
		h.want(get("/v1/streams/order-1/events?direction=backward&limit=1", readKey), 200, &page)
		if page.Events[0].Version != 3 {
			t.Fatalf("backward %+v", page.Events)
		}
		h.want(get("/v1/streams/order-9/events", readKey), 404, &p)
		if p.Code != "stream_not_found" {
			t.Fatal(p.Code)
		}
		h.want(get("/v1/streams/order-1/events?limit=0", readKey), 400, &p)

		var list struct {
			Streams []sluice.StreamInfo `json:"streams"`
			Next    *string             `json:"next"`
		}
		h.want(post("/v1/streams/order-2/events", writeKey, `{"type":"placed","data":1}`), 201, nil)
		h.want(get("/v1/streams?prefix=order-&limit=1", readKey), 200, &list)
		if len(list.Streams) != 1 || list.Streams[0].Stream != "order-1" || list.Next == nil {
			t.Fatalf("%+v", list)
		}
		h.want(get(*list.Next, readKey), 200, &list)
		if len(list.Streams) != 1 || list.Streams[0].Stream != "order-2" {
			t.Fatalf("%+v", list)
		}

		var log logPage
		h.want(get("/v1/events?after=1&limit=2&category=order", readKey), 200, &log)
		if len(log.Events) != 2 || log.Events[0].Position != 2 || log.NextAfter != 3 {
			t.Fatalf("%+v", log)
		}
	})
}

func TestKeys(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		cfg := testConfig()
		// One request, then none for a long while.
		cfg.Keys = append(cfg.Keys, httpapi.Key{Name: "limited", Secret: "sk_limited_0123456789ab", Role: httpapi.RoleWrite, Rate: 0.001, Burst: 1})
		h := newHarness(t, open(t), cfg)
		event := `{"type":"page.viewed","data":1}`
		var p problem
		for _, tt := range []struct {
			name   string
			req    request
			status int
			code   string
		}{
			{"NoKey", post("/v1/events", "", event), 401, "missing_key"},
			{"UnknownKey", post("/v1/events", "sk_nobody_0123456789abc", event), 401, "unknown_key"},
			{"ReadKeyIngests", post("/v1/events", readKey, event), 403, "role_not_allowed"},
			{"WriteKeyReads", get("/v1/events", writeKey), 403, "role_not_allowed"},
			{"TypeNotAllowed", post("/v1/events", browserKey, `{"type":"order.placed","data":1}`), 403, "type_not_allowed"},
			{"OriginNotAllowed", request{method: "POST", path: "/v1/events", key: browserKey, body: event, header: map[string]string{"Origin": "https://evil.example"}}, 403, "origin_not_allowed"},
			{"NoBrowserUse", request{method: "POST", path: "/v1/events", key: writeKey, body: event, header: map[string]string{"Origin": "https://shop.example.com"}}, 403, "origin_not_allowed"},
		} {
			h.want(tt.req, tt.status, &p)
			if p.Code != tt.code {
				t.Errorf("%s: code %q, want %q", tt.name, p.Code, tt.code)
			}
		}
		t.Run("SameOrigin", func(t *testing.T) {
			// A page this sluice served (the console) uses any key; the
			// same port of another host is another origin.
			self := map[string]string{"Origin": h.url}
			h.want(request{method: "GET", path: "/v1/keys", key: adminKey, header: self}, 200, nil)
			other := map[string]string{"Origin": strings.Replace(h.url, "127.0.0.1", "localhost", 1)}
			h.want(request{method: "GET", path: "/v1/keys", key: adminKey, header: other}, 403, &p)
		})
		t.Run("Basic", func(t *testing.T) {
			r := request{method: "GET", path: "/v1/events", header: map[string]string{"Authorization": "Basic " + basic(readKey)}}
			h.want(r, 200, nil)
		})
		t.Run("Beacon", func(t *testing.T) {
			var a ingestAnswer
			h.want(request{method: "POST", path: "/v1/events?key=" + browserKey, contentType: "text/plain;charset=UTF-8", body: event,
				header: map[string]string{"Origin": "https://shop.example.com"}}, 200, &a)
			if a.Accepted != 1 {
				t.Fatalf("%+v", a)
			}
			h.want(get("/v1/events?key="+adminKey, ""), 401, &p) // ?key= is for ingest only
		})
		t.Run("CORS", func(t *testing.T) {
			hdr := h.want(request{method: "OPTIONS", path: "/v1/events", header: map[string]string{
				"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}}, 204, nil)
			if hdr.Get("Access-Control-Allow-Origin") != "https://shop.example.com" || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") {
				t.Fatalf("preflight headers %v", hdr)
			}
			h.want(request{method: "OPTIONS", path: "/v1/events", header: map[string]string{
				"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}}, 403, &p)
			hdr = h.want(request{method: "POST", path: "/v1/events", key: browserKey, body: event, header: map[string]string{"Origin": "https://shop.example.com"}}, 200, nil)
			if hdr.Get("Access-Control-Allow-Origin") != "https://shop.example.com" {
				t.Fatalf("answer headers %v", hdr)
			}
		})
		t.Run("RateLimit", func(t *testing.T) {
			h.want(post("/v1/events", "sk_limited_0123456789ab", event), 200, nil)
			hdr := h.want(post("/v1/events", "sk_limited_0123456789ab", event), 429, &p)
			if p.Code != "rate_limited" || hdr.Get("Retry-After") == "" {
				t.Fatalf("%+v %v", p, hdr)
			}
		})
	})
}

func TestHealth(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		h.want(get("/healthz", ""), 200, nil)
		h.want(get("/readyz", ""), 200, nil)
		h.want(get("/metrics", ""), 401, nil)
		h.want(post("/v1/events", writeKey, `{"type":"a","data":1}`), 200, nil)
		_, _, body := h.do(get("/metrics", readKey))
		for _, want := range []string{`sluice_events_total{outcome="accepted"} 1`, `sluice_http_requests_total{code="200",route="ingest"} 1`, "sluice_log_head_position 1", "sluice_commit_events_count 1", "sluice_writer_queue_events 0"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		h.srv.Drain()
		var p problem
		hdr := h.want(get("/readyz", ""), 503, &p)
		if p.Code != "draining" || hdr.Get("Retry-After") == "" {
			t.Fatalf("%+v %v", p, hdr)
		}
	})
}

func head(t *testing.T, h *harness) sluice.Position {
	t.Helper()
	hd, err := h.store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return hd
}

// gatedStore holds every commit until the test lets it go: "the store is
// slow" is the one fault a real store cannot be made to show on demand.
type gatedStore struct {
	sluice.Store
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedStore) Append(ctx context.Context, reqs []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	g.entered <- struct{}{}
	<-g.gate
	return g.Store.Append(ctx, reqs)
}

func TestOverload(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		g := &gatedStore{Store: open(t), entered: make(chan struct{}, 10), gate: make(chan struct{})}
		w := sluice.NewWriter(g, sluice.WriterOptions{MaxQueueEvents: 1})
		srv, err := httpapi.New(g, w, newRegistry(t, g), testConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		defer ts.Close()
		defer w.Close(context.Background())
		defer close(g.gate)
		h := &harness{t: t, url: ts.URL, srv: srv, store: g}

		first := make(chan int, 1)
		go func() {
			code, _, _ := h.do(post("/v1/events", writeKey, `{"type":"a","data":1}`))
			first <- code
		}()
		<-g.entered // the first request's commit is in flight, and fills the queue
		var p problem
		hdr := h.want(post("/v1/events", writeKey, `{"type":"a","data":2}`), 503, &p)
		if p.Code != "overloaded" || hdr.Get("Retry-After") == "" {
			t.Fatalf("%+v %v, want overloaded with Retry-After", p, hdr)
		}
		g.gate <- struct{}{}
		if code := <-first; code != 200 {
			t.Fatalf("the first request got %d, want 200", code)
		}
	})
}

func TestLimits(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		cfg := testConfig()
		cfg.Limits.MaxBodyBytes = 1024
		cfg.Limits.MaxEvents = 2
		cfg.Limits.MaxEventBytes = 200
		h := newHarness(t, open(t), cfg)
		var p problem
		for _, tt := range []struct {
			name, body string
			status     int
			code       string
		}{
			{"Body", `{"type":"a","data":"` + strings.Repeat("x", 2000) + `"}`, 413, "payload_too_large"},
			{"Events", `[{"type":"a","data":1},{"type":"a","data":2},{"type":"a","data":3}]`, 413, "too_many_events"},
			{"Event", `{"type":"a","data":"` + strings.Repeat("x", 300) + `"}`, 400, "invalid_events"},
		} {
			h.want(post("/v1/events", writeKey, tt.body), tt.status, &p)
			if p.Code != tt.code {
				t.Errorf("%s: code %q, want %q", tt.name, p.Code, tt.code)
			}
		}
		if head(t, h) != 0 {
			t.Fatal("a refused request stored something")
		}
	})
}

// downStore is a store whose database cannot be reached.
type downStore struct{ sluice.Store }

func (downStore) Head(context.Context) (sluice.Position, error) {
	return 0, sluice.ErrUnavailable
}

func TestReadyz_StoreDown(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, downStore{open(t)}, testConfig())
		var p problem
		hdr := h.want(get("/readyz", ""), 503, &p)
		if p.Code != "store_unavailable" || hdr.Get("Retry-After") == "" {
			t.Fatalf("%+v %v, want store_unavailable with Retry-After", p, hdr)
		}
		h.want(get("/healthz", ""), 200, nil) // alive all the same
	})
}

// fullStore is a store whose disk is full.
type fullStore struct{ sluice.Store }

func (fullStore) Append(context.Context, []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	return nil, fmt.Errorf("append: %w: database or disk is full", sluice.ErrStorageFull)
}

// TestIngest_StorageFull: a full disk is 503 storage_full with Retry-After.
func TestIngest_StorageFull(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, fullStore{open(t)}, testConfig())
		var p problem
		hdr := h.want(post("/v1/events", writeKey, `{"type":"a","data":1}`), 503, &p)
		if p.Code != "storage_full" || hdr.Get("Retry-After") == "" {
			t.Fatalf("%+v %v, want storage_full with Retry-After", p, hdr)
		}
	})
}

// blockedStore is a store whose appends wait until release is closed,
// saying on entered when one starts.
type blockedStore struct {
	sluice.Store
	entered chan struct{}
	release chan struct{}
}

func (b blockedStore) Append(ctx context.Context, reqs []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.Append(ctx, reqs)
}

// TestIngest_MaxInFlight: beyond limits.max_in_flight ingest requests at
// once, one more is answered 503 overloaded with Retry-After at once; the
// one in flight still succeeds.
func TestIngest_MaxInFlight(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		cfg := testConfig()
		cfg.Limits.MaxInFlight = 1
		store := blockedStore{Store: open(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
		h := newHarness(t, store, cfg)
		first := make(chan int)
		go func() {
			status, _, _ := h.do(post("/v1/events", writeKey, `{"type":"a","data":1}`))
			first <- status
		}()
		<-store.entered
		var p problem
		hdr := h.want(post("/v1/streams/s/events", writeKey, `{"type":"a","data":2}`), 503, &p)
		if p.Code != "overloaded" || hdr.Get("Retry-After") == "" {
			t.Errorf("%+v %v, want overloaded with Retry-After", p, hdr)
		}
		close(store.release)
		if status := <-first; status != 200 {
			t.Fatalf("the request in flight: %d, want 200", status)
		}
		h.want(post("/v1/events", writeKey, `{"type":"a","data":3}`), 200, nil)
	})
}

// TestRead_DataByteForByte: data and metadata come back exactly as sent,
// whitespace and <, >, & included, from the log and from a stream.
func TestRead_DataByteForByte(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		const data = `{ "html": "<b>&amp;</b>",  "n": 1.50 }`
		h.want(post("/v1/events", writeKey, `{"type":"note","stream":"note-1","data":`+data+`}`), 200, nil)
		for _, path := range []string{"/v1/events", "/v1/streams/note-1/events"} {
			_, _, body := h.do(get(path, readKey))
			if !strings.Contains(string(body), `"data":`+data+`,`) {
				t.Errorf("GET %s: data not as sent: %s", path, body)
			}
		}
	})
}
