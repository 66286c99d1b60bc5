package httpapi_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testserver"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/testutil/memsink"
	"github.com/sluicehq/sluice/sink"
)

// sinkHarness serves a store with one sink, "hook", delivering to dest.
func sinkHarness(t *testing.T, store sluice.Store, dest *memsink.Sink) *harness {
	t.Helper()
	cfg := sink.Config{Name: "hook", Type: "memory", Batch: sink.Batch{MaxEvents: 10},
		Retry: sink.Retry{MaxAttempts: 1, MaxAge: time.Millisecond, InitialBackoff: time.Millisecond}, LeaseTTL: time.Second}
	r, err := sink.NewRunner(store, dest, cfg, sink.Limits{}, sink.RunnerOptions{Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	m := sink.NewManager(store, nil)
	if err := m.Add(r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	s := testserver.New(t, store, testConfig(), httpapi.WithSinks(m))
	return &harness{t: t, url: s.URL, srv: s.API, store: store}
}

func TestSinks(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		store := open(t)
		dest := &memsink.Sink{}
		var mu sync.Mutex
		refuse := map[sluice.Position]bool{2: true}
		dest.Script(func(_ int, recs []sluice.SinkRecord) error {
			mu.Lock()
			defer mu.Unlock()
			var failed []sluice.RecordError
			for i, r := range recs {
				if refuse[r.Event.Position] {
					failed = append(failed, sluice.RecordError{Index: i, Err: sluice.Permanent(errors.New("400 no"))})
				}
			}
			if failed != nil {
				return &sluice.DeliveryError{Failed: failed}
			}
			return nil
		})
		h := sinkHarness(t, store, dest)
		// Data spaced and escaped as JSON encoding would not keep it.
		h.want(post("/v1/events", writeKey, `[{"type":"a","data":{"n": 1}},{"type":"a","data": {"s": "<&>"} },{"type":"a","data":3}]`), 200, nil)
		var st sink.State
		testutil.Eventually(t, 10*time.Second, func() bool {
			h.want(get("/v1/sinks/hook", readKey), 200, &st)
			return st.Position == 3 && st.DeadLetters == 1 && st.State == sink.StateRunning && st.Node == "node-a" && st.Counts.Delivered == 2
		}, "the sink did not deliver")
		if st.Type != "memory" || st.Head != 3 || st.LagEvents != 0 || st.Counts.Delivered != 2 || st.LastError != "400 no" {
			t.Fatalf("state %+v", st)
		}
		var list struct{ Sinks []sink.State }
		h.want(get("/v1/sinks", readKey), 200, &list)
		if len(list.Sinks) != 1 || list.Sinks[0].Name != "hook" {
			t.Fatalf("list %+v", list)
		}
		h.want(get("/v1/sinks/nope", readKey), 404, nil)
		h.want(post("/v1/sinks/hook/pause", readKey, ""), 403, nil)

		// Dead letters, the event byte for byte.
		var dl struct {
			DeadLetters []struct {
				Seq      int64
				Attempts int
				Error    string
				Event    struct{ Position sluice.Position }
			} `json:"dead_letters"`
			NextAfter int64 `json:"next_after"`
		}
		_, _, raw := h.do(get("/v1/sinks/hook/dead-letters", readKey))
		if !strings.Contains(string(raw), `"data": {"s": "<&>"} `) && !strings.Contains(string(raw), `"data":{"s": "<&>"}`) {
			t.Fatalf("the dead letter's data is not as stored: %s", raw)
		}
		h.want(get("/v1/sinks/hook/dead-letters", readKey), 200, &dl)
		if len(dl.DeadLetters) != 1 || dl.DeadLetters[0].Event.Position != 2 || dl.DeadLetters[0].Error != "400 no" || dl.NextAfter != dl.DeadLetters[0].Seq {
			t.Fatalf("dead letters %+v", dl)
		}
		h.want(get(fmt.Sprintf("/v1/sinks/hook/dead-letters?after=%d", dl.NextAfter), readKey), 200, &dl)
		if len(dl.DeadLetters) != 0 {
			t.Fatalf("the page after the last: %+v", dl)
		}
		// Redrive: still refused, then taken.
		var rd sink.RedriveResult
		h.want(post("/v1/sinks/hook/dead-letters/redrive", adminKey, `{}`), 200, &rd)
		if rd.Redriven != 0 || len(rd.Failed) != 1 || rd.Failed[0].Error != "400 no" {
			t.Fatalf("redrive while refused: %+v", rd)
		}
		mu.Lock()
		clear(refuse)
		mu.Unlock()
		h.want(post("/v1/sinks/hook/dead-letters/redrive", adminKey, `{"limit": 10}`), 200, &rd)
		if rd.Redriven != 1 || len(rd.Failed) != 0 || rd.More {
			t.Fatalf("redrive: %+v", rd)
		}
		h.want(post("/v1/sinks/hook/dead-letters/redrive", adminKey, `{"limit": -1}`), 400, nil)
		h.want(post("/v1/sinks/hook/dead-letters/redrive", adminKey, `{"what": 1}`), 400, nil)

		// Pause and resume.
		h.want(post("/v1/sinks/hook/pause", adminKey, ""), 200, &st)
		if !st.Paused || st.State != sink.StateStopped {
			t.Fatalf("paused: %+v", st)
		}
		h.want(post("/v1/sinks/hook/resume", adminKey, ""), 200, &st)
		if st.Paused {
			t.Fatalf("resumed: %+v", st)
		}

		// Replay.
		h.want(post("/v1/sinks/hook/replay", adminKey, `{}`), 400, nil)
		h.want(post("/v1/sinks/hook/replay", adminKey, `{"from_position": 0}`), 400, nil)
		h.want(post("/v1/sinks/hook/replay", adminKey, `{"from_position": 1, "from_time": "2026-01-01T00:00:00Z"}`), 400, nil)
		h.want(post("/v1/sinks/hook/replay", adminKey, `{"from_position": 9}`), 409, nil)
		h.want(post("/v1/sinks/hook/replay", adminKey, `{"from_position": 1}`), 202, &st)
		// Three events may be replayed before the answer: the replay is
		// then the last one.
		if rp := cmp.Or(st.Replay, st.LastReplay); rp == nil || rp.ID == "" || rp.After != 0 || rp.Through != 3 {
			t.Fatalf("replay: %+v, last %+v", st.Replay, st.LastReplay)
		}
		testutil.Eventually(t, 10*time.Second, func() bool {
			st = sink.State{}
			h.want(get("/v1/sinks/hook", readKey), 200, &st)
			return st.Replay == nil && st.LastReplay != nil && st.LastReplay.Position == 3
		}, "the replay did not finish")
		h.want(post("/v1/sinks/hook/replay", adminKey, `{"from_time": "2000-01-01T00:00:00Z"}`), 202, &st)

		// The metrics.
		_, _, metrics := h.do(get("/metrics", readKey))
		for _, want := range []string{`sluice_sink_delivered_total{sink="hook"}`, `sluice_sink_dead_letters{sink="hook"}`,
			`sluice_sink_delivery_latency_seconds_bucket{sink="hook"`, `sluice_sink_breaker_state{sink="hook"} 0`, `sluice_sink_running{sink="hook"} 1`} {
			if !strings.Contains(string(metrics), want) {
				t.Errorf("the metrics have no %s", want)
			}
		}
	})
}

// Without sinks, the API lists none.
func TestSinks_None(t *testing.T) {
	h := newHarness(t, backends.SQLite(t), testConfig())
	var list struct{ Sinks []sink.State }
	h.want(get("/v1/sinks", readKey), 200, &list)
	if list.Sinks == nil || len(list.Sinks) != 0 {
		t.Fatalf("list %+v, want an empty list", list)
	}
	h.want(get("/v1/sinks/x/dead-letters", readKey), 404, nil)
	h.want(post("/v1/sinks/x/pause", adminKey, ""), 404, nil)
}
