package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
)

// subState is the answer of GET /v1/subscriptions/{name}.
type subState = consumer.State

// subBatch is the answer of GET /v1/subscriptions/{name}/events.
type subBatch struct {
	Events     []sluice.Event  `json:"events"`
	Position   sluice.Position `json:"position"`
	Checkpoint sluice.Position `json:"checkpoint"`
}

// ingestN stores n events, alternating order.placed in streams order-<i>
// and page.viewed, and returns the position of the last.
func ingestN(h *harness, n int) sluice.Position {
	h.t.Helper()
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if i%2 == 0 {
			fmt.Fprintf(&b, `{"type":"order.placed","stream":"order-%d","data":{"n":%d}}`, i, i)
		} else {
			fmt.Fprintf(&b, `{"type":"page.viewed","data":{"n":%d}}`, i)
		}
	}
	b.WriteByte(']')
	var a ingestAnswer
	h.want(post("/v1/events", writeKey, b.String()), 200, &a)
	return a.Position
}

// drain reads a subscription to its end, acknowledging each batch, and
// returns the events.
func drainSub(h *harness, name, query string) []sluice.Event {
	h.t.Helper()
	var all []sluice.Event
	for {
		var b subBatch
		h.want(get("/v1/subscriptions/"+name+"/events?"+query, readKey), 200, &b)
		all = append(all, b.Events...)
		if b.Position > b.Checkpoint {
			h.want(post("/v1/subscriptions/"+name+"/ack?"+query, readKey, fmt.Sprintf(`{"position":%d}`, b.Position)), 200, nil)
		}
		if len(b.Events) == 0 {
			return all
		}
	}
}

// answer is an HTTP answer received in the background.
type answer struct {
	status int
	body   string
	err    error
}

// async sends a GET in the background (a long poll, a wait).
func async(h *harness, path, key string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", h.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		ch <- answer{status: resp.StatusCode, body: string(body), err: err}
	}()
	return ch
}

// await returns the background answer, failing after a deadline.
func await(t *testing.T, ch <-chan answer, within time.Duration) answer {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatal(a.err)
		}
		return a
	case <-time.After(within):
		t.Fatalf("no answer within %s", within)
		return answer{}
	}
}

func TestSubscriptions(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		h := newHarness(t, open(t), testConfig())
		head := ingestN(h, 150)

		var st subState
		h.want(put("/v1/subscriptions/orders", readKey, `{"filter":{"types":["order.placed"]}}`), 201, &st)
		if st.Start != 0 || st.Checkpoint != 0 || st.Head != head || st.LagEvents != uint64(head) || st.LagSeconds <= 0 {
			t.Fatalf("new subscription: %+v", st)
		}

		t.Run("CatchUpThenLive", func(t *testing.T) {
			h.want(put("/v1/subscriptions/all-orders", readKey, `{"filter":{"category":"order"},"start":"beginning"}`), 201, nil)
			got := drainSub(h, "all-orders", "limit=40")
			if len(got) != 75 {
				t.Fatalf("caught up with %d events, want 75", len(got))
			}
			for i, e := range got {
				if e.Type != "order.placed" || (i > 0 && e.Position <= got[i-1].Position) {
					t.Fatalf("event %d: %+v", i, e)
				}
			}
			poll := async(h, "/v1/subscriptions/all-orders/events?wait=20s", readKey)
			var a ingestAnswer
			h.want(post("/v1/events", writeKey, `{"type":"order.placed","stream":"order-live","data":1}`), 200, &a)
			// The long poll answers with the event, long before its wait.
			ans := await(t, poll, 10*time.Second)
			if ans.status != 200 || !strings.Contains(ans.body, `"stream":"order-live"`) || !strings.Contains(ans.body, fmt.Sprintf(`"position":%d`, a.Position)) {
				t.Fatalf("long poll: %d %s", ans.status, ans.body)
			}
		})

		t.Run("Redelivery", func(t *testing.T) {
			var b1, b2 subBatch
			h.want(get("/v1/subscriptions/orders/events?limit=3", readKey), 200, &b1)
			h.want(get("/v1/subscriptions/orders/events?limit=3", readKey), 200, &b2)
			if len(b1.Events) != 3 || b1.Events[0].ID != b2.Events[0].ID || b1.Position != b2.Position || b1.Position != b1.Events[2].Position {
				t.Fatalf("unacknowledged events must come again: %+v then %+v", b1, b2)
			}
			var s subState
			h.want(get("/v1/subscriptions/orders", readKey), 200, &s)
			if s.HoldSeconds <= 0 {
				t.Fatalf("a delivered, unacknowledged batch must count as held: %+v", s)
			}
			var c struct{ Checkpoint sluice.Position }
			h.want(post("/v1/subscriptions/orders/ack", readKey, fmt.Sprintf(`{"position":%d}`, b1.Position)), 200, &c)
			if c.Checkpoint != b1.Position {
				t.Fatalf("ack: checkpoint %d, want %d", c.Checkpoint, b1.Position)
			}
			h.want(post("/v1/subscriptions/orders/ack", readKey, `{"position":1}`), 200, &c)
			if c.Checkpoint != b1.Position {
				t.Fatalf("an acknowledgement behind the checkpoint moved it to %d", c.Checkpoint)
			}
			h.want(get("/v1/subscriptions/orders", readKey), 200, &s)
			if s.HoldSeconds != 0 || s.Checkpoint != b1.Position || s.LagEvents != uint64(s.Head-b1.Position) {
				t.Fatalf("after the ack: %+v", s)
			}
			h.want(get("/v1/subscriptions/orders/events?limit=3", readKey), 200, &b2)
			if b2.Events[0].Position <= b1.Position {
				t.Fatalf("after the ack, delivery resumed at %d", b2.Events[0].Position)
			}
		})

		t.Run("AckAndNext", func(t *testing.T) {
			var b1, b2 subBatch
			h.want(get("/v1/subscriptions/orders/events?limit=2", readKey), 200, &b1)
			h.want(post("/v1/subscriptions/orders/ack?next=2&wait=1s", readKey, fmt.Sprintf(`{"position":%d}`, b1.Position)), 200, &b2)
			if b2.Checkpoint != b1.Position || len(b2.Events) != 2 || b2.Events[0].Position <= b1.Position {
				t.Fatalf("ack with next: %+v after %+v", b2, b1)
			}
			h.want(post("/v1/subscriptions/orders/ack", readKey, fmt.Sprintf(`{"position":%d}`, b2.Position)), 200, nil)
		})

		t.Run("Filters", func(t *testing.T) {
			for _, tc := range []struct {
				name, filter string
				keep         func(sluice.Event) bool
			}{
				{"pages", `{"types":["page.viewed"]}`, func(e sluice.Event) bool { return e.Type == "page.viewed" }},
				{"order-1x", `{"stream_prefix":"order-1"}`, func(e sluice.Event) bool { return strings.HasPrefix(e.Stream, "order-1") }},
				{"page-category", `{"category":"page.viewed"}`, func(e sluice.Event) bool { return e.Stream == "page.viewed" }},
			} {
				h.want(put("/v1/subscriptions/"+tc.name, readKey, `{"filter":`+tc.filter+`}`), 201, nil)
				got := drainSub(h, tc.name, "")
				var want []sluice.Event
				var all logPage
				h.want(get("/v1/events?limit=1000", readKey), 200, &all)
				for _, e := range all.Events {
					if tc.keep(e) {
						want = append(want, e)
					}
				}
				if len(got) != len(want) || len(got) == 0 {
					t.Fatalf("%s: %d events, want %d", tc.name, len(got), len(want))
				}
				var s subState
				h.want(get("/v1/subscriptions/"+tc.name, readKey), 200, &s)
				if s.Checkpoint != s.Head {
					t.Fatalf("%s: drained, but the checkpoint %d is behind the head %d: skipped events must be acknowledged too", tc.name, s.Checkpoint, s.Head)
				}
			}
		})

		t.Run("SkippedEndsLongPoll", func(t *testing.T) {
			var st subState
			h.want(put("/v1/subscriptions/rare", readKey, `{"filter":{"types":["rare.event"]},"start":"end"}`), 201, &st)
			poll := async(h, "/v1/subscriptions/rare/events?wait=60s", readKey)
			var a ingestAnswer
			h.want(post("/v1/events", writeKey, `{"type":"page.viewed","data":1}`), 200, &a)
			// The poll answers with no events and the position past the
			// skipped one, long before its minute.
			ans := await(t, poll, 30*time.Second)
			var b subBatch
			if err := json.Unmarshal([]byte(ans.body), &b); err != nil || ans.status != 200 || len(b.Events) != 0 || b.Position < a.Position {
				t.Fatalf("long poll over skipped events: %d %s", ans.status, ans.body)
			}
		})

		t.Run("Wait", func(t *testing.T) {
			var st subState
			h.want(put("/v1/subscriptions/waiter", readKey, `{"filter":{"types":["order.placed"]},"start":"end"}`), 201, &st)
			if st.Checkpoint != st.Head {
				t.Fatalf(`start "end": checkpoint %d, head %d`, st.Checkpoint, st.Head)
			}
			// A write the filter skips is covered at once.
			var a ingestAnswer
			h.want(post("/v1/events", writeKey, `{"type":"page.viewed","data":1}`), 200, &a)
			h.want(get(fmt.Sprintf("/v1/subscriptions/waiter/wait?position=%d&timeout=5s", a.Position), readKey), 200, nil)
			// One it keeps waits for the reader's acknowledgement.
			h.want(post("/v1/events", writeKey, `{"type":"order.placed","stream":"order-w","data":1}`), 200, &a)
			var p problem
			h.want(get(fmt.Sprintf("/v1/subscriptions/waiter/wait?position=%d&timeout=50ms", a.Position), readKey), 408, &p)
			if p.Code != "wait_timeout" {
				t.Fatalf("timeout: %+v", p)
			}
			wait := async(h, fmt.Sprintf("/v1/subscriptions/waiter/wait?position=%d&timeout=20s", a.Position), readKey)
			got := drainSub(h, "waiter", "")
			if len(got) != 1 || got[0].Position != a.Position {
				t.Fatalf("reader got %+v", got)
			}
			if ans := await(t, wait, 10*time.Second); ans.status != 200 {
				t.Fatalf("wait after the ack: %d %s", ans.status, ans.body)
			}
			// A position not yet written waits for it, then for the reader.
			wait = async(h, fmt.Sprintf("/v1/subscriptions/waiter/wait?position=%d&timeout=20s", a.Position+1), readKey)
			h.want(post("/v1/events", writeKey, `{"type":"page.viewed","data":2}`), 200, nil)
			if ans := await(t, wait, 10*time.Second); ans.status != 200 {
				t.Fatalf("wait for a future position the filter skips: %d %s", ans.status, ans.body)
			}
		})

		t.Run("OneReader", func(t *testing.T) {
			h.want(put("/v1/subscriptions/shared", readKey, `{}`), 201, nil)
			h.want(get("/v1/subscriptions/shared/events?reader=a", readKey), 200, nil)
			var p problem
			hdr := h.want(get("/v1/subscriptions/shared/events?reader=b", readKey), 409, &p)
			if p.Code != "subscription_busy" || hdr.Get("Retry-After") == "" {
				t.Fatalf("second reader: %+v, Retry-After %q", p, hdr.Get("Retry-After"))
			}
			h.want(post("/v1/subscriptions/shared/ack?reader=b", readKey, `{"position":1}`), 409, nil)
			h.want(post("/v1/subscriptions/shared/ack?reader=a", readKey, `{"position":1}`), 200, nil)
			// b releasing what it does not hold changes nothing; a's release
			// lets b in at once.
			h.want(request{method: "DELETE", path: "/v1/subscriptions/shared/reader?reader=b", key: readKey}, 204, nil)
			h.want(get("/v1/subscriptions/shared/events?reader=b", readKey), 409, nil)
			h.want(request{method: "DELETE", path: "/v1/subscriptions/shared/reader?reader=a", key: readKey}, 204, nil)
			h.want(get("/v1/subscriptions/shared/events?reader=b", readKey), 200, nil)
		})

		t.Run("Positions", func(t *testing.T) {
			var st subState
			h.want(put("/v1/subscriptions/from-100", readKey, `{"start":100}`), 201, &st)
			var b subBatch
			h.want(get("/v1/subscriptions/from-100/events?limit=1", readKey), 200, &b)
			if st.Start != 100 || len(b.Events) != 1 || b.Events[0].Position != 101 {
				t.Fatalf("start 100: %+v, first event %+v", st, b.Events)
			}
			var p problem
			h.want(post("/v1/subscriptions/from-100/ack", readKey, `{"position":1000000}`), 400, &p)
			h.want(put("/v1/subscriptions/beyond", readKey, `{"start":1000000}`), 400, &p)
			if p.Code != "invalid_position" {
				t.Fatalf("start beyond the head: %+v", p)
			}
			// A PUT of an existing subscription keeps its checkpoint.
			h.want(put("/v1/subscriptions/from-100", readKey, `{"start":"beginning","filter":{"types":["x"]}}`), 200, &st)
			if st.Checkpoint != 100 || st.Start != 100 || len(st.Filter.Types) != 1 {
				t.Fatalf("update: %+v", st)
			}
		})

		t.Run("Metrics", func(t *testing.T) {
			_, _, body := h.do(get("/metrics", readKey))
			for _, m := range []string{
				`sluice_subscription_checkpoint_position{subscription="orders"}`,
				`sluice_subscription_lag_events{subscription="orders"}`,
				`sluice_subscription_lag_seconds{subscription="orders"}`,
				`sluice_subscription_hold_seconds{subscription="orders"}`,
			} {
				if !strings.Contains(string(body), m) {
					t.Errorf("metrics lack %s", m)
				}
			}
		})

		t.Run("List", func(t *testing.T) {
			var page struct {
				Subscriptions []subState `json:"subscriptions"`
				Next          *string    `json:"next"`
			}
			h.want(get("/v1/subscriptions?limit=2", readKey), 200, &page)
			if len(page.Subscriptions) != 2 || page.Next == nil || page.Subscriptions[0].Name != "all-orders" {
				t.Fatalf("first page: %+v", page)
			}
			h.want(get(*page.Next, readKey), 200, &page)
			if len(page.Subscriptions) == 0 || page.Subscriptions[0].Name <= "all-orders" {
				t.Fatalf("second page: %+v", page)
			}
		})

		t.Run("Errors", func(t *testing.T) {
			for _, tc := range []struct {
				req    request
				status int
				code   string
			}{
				{get("/v1/subscriptions/nope", readKey), 404, "subscription_not_found"},
				{get("/v1/subscriptions/nope/events", readKey), 404, "subscription_not_found"},
				{post("/v1/subscriptions/nope/ack", readKey, `{"position":1}`), 404, "subscription_not_found"},
				{get("/v1/subscriptions/nope/wait?position=1", readKey), 404, "subscription_not_found"},
				{request{method: "DELETE", path: "/v1/subscriptions/nope", key: readKey}, 404, "subscription_not_found"},
				{request{method: "DELETE", path: "/v1/subscriptions/nope/reader", key: readKey}, 404, "subscription_not_found"},
				{put("/v1/subscriptions/bad%20name", readKey, `{}`), 400, "invalid_name"},
				{put("/v1/subscriptions/x", readKey, `{"filter":{"kinds":["a"]}}`), 400, "invalid_body"},
				{put("/v1/subscriptions/x", readKey, `{"start":"middle"}`), 400, "invalid_body"},
				{put("/v1/subscriptions/x", readKey, `{"filter":{"types":["a b"]}}`), 400, "invalid_filter"},
				{post("/v1/subscriptions/orders/ack", readKey, `{"pos":1}`), 400, "invalid_body"},
				{post("/v1/subscriptions/orders/ack?next=0", readKey, `{"position":1}`), 400, "invalid_parameter"},
				{get("/v1/subscriptions/orders/wait", readKey), 400, "invalid_parameter"},
				{get("/v1/subscriptions/orders/wait?position=1&timeout=2h", readKey), 400, "invalid_parameter"},
				{get("/v1/subscriptions/orders/events?wait=soon", readKey), 400, "invalid_parameter"},
				{get("/v1/subscriptions/orders/events", writeKey), 403, "role_not_allowed"},
			} {
				var p problem
				h.want(tc.req, tc.status, &p)
				if p.Code != tc.code {
					t.Errorf("%s %s: code %q, want %q", tc.req.method, tc.req.path, p.Code, tc.code)
				}
			}
		})

		t.Run("Delete", func(t *testing.T) {
			h.want(request{method: "DELETE", path: "/v1/subscriptions/orders", key: readKey}, 204, nil)
			h.want(get("/v1/subscriptions/orders", readKey), 404, nil)
			var st subState
			h.want(put("/v1/subscriptions/orders", readKey, `{}`), 201, &st)
			if st.Checkpoint != 0 {
				t.Fatalf("recreated at checkpoint %d", st.Checkpoint)
			}
		})
	})
}

// A reader that stops is replaced by another once its lease expires.
func TestSubscriptions_Takeover(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		cfg := testConfig()
		cfg.SubscriptionReaderTTL = 300 * time.Millisecond
		h := newHarness(t, open(t), cfg)
		ingestN(h, 4)
		h.want(put("/v1/subscriptions/s", readKey, `{}`), 201, nil)
		var b subBatch
		h.want(get("/v1/subscriptions/s/events?reader=a&limit=2", readKey), 200, &b)
		h.want(post("/v1/subscriptions/s/ack?reader=a", readKey, fmt.Sprintf(`{"position":%d}`, b.Position)), 200, nil)
		h.want(get("/v1/subscriptions/s/events?reader=a&limit=1", readKey), 200, nil) // delivered, never acknowledged
		var taken subBatch
		testutil.Eventually(t, 5*time.Second, func() bool {
			status, _, body := h.do(get("/v1/subscriptions/s/events?reader=b", readKey))
			if status == 200 {
				_ = json.Unmarshal(body, &taken)
			}
			return status == 200
		}, "the standby reader never took over")
		if taken.Checkpoint != 2 || len(taken.Events) != 2 || taken.Events[0].Position != 3 {
			t.Fatalf("the standby must resume after the checkpoint with the unacknowledged events: %+v", taken)
		}
	})
}

// Acknowledged progress survives a restart of the server.
func TestSubscriptions_Restart(t *testing.T) {
	backends.RunLog(t, func(t *testing.T, open backends.Open) {
		store := open(t)
		h := newHarness(t, store, testConfig())
		ingestN(h, 10)
		h.want(put("/v1/subscriptions/s", readKey, `{"filter":{"types":["order.placed"]}}`), 201, nil)
		var b subBatch
		h.want(get("/v1/subscriptions/s/events?limit=2", readKey), 200, &b)
		h.want(post("/v1/subscriptions/s/ack", readKey, fmt.Sprintf(`{"position":%d}`, b.Position)), 200, nil)
		h.srv.Drain()
		store.Close()

		h = newHarness(t, open(t), testConfig())
		got := drainSub(h, "s", "")
		if len(got) != 3 || got[0].Position != 5 {
			t.Fatalf("after the restart: %+v, want the orders at 5, 7, 9", got)
		}
	})
}

// A drain ends long polls at once, so that shutdown does not wait for
// them.
func TestSubscriptions_DrainEndsLongPoll(t *testing.T) {
	h := newHarness(t, backends.SQLite(t), testConfig())
	h.want(put("/v1/subscriptions/s", readKey, `{}`), 201, nil)
	poll := async(h, "/v1/subscriptions/s/events?wait=60s", readKey)
	wait := async(h, "/v1/subscriptions/s/wait?position=5&timeout=60s", readKey)
	// Whether they reach the server before the drain or after, they end.
	h.srv.Drain()
	if ans := await(t, poll, 5*time.Second); ans.status != 200 || !strings.Contains(ans.body, `"events":[]`) {
		t.Fatalf("long poll at drain: %d %s", ans.status, ans.body)
	}
	if ans := await(t, wait, 5*time.Second); ans.status != 503 {
		t.Fatalf("wait at drain: %d %s", ans.status, ans.body)
	}
}
