package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/testutil"
)

// appendN appends n events of type typ to stream and returns the last
// position.
func appendN(t *testing.T, c *client.Client, stream, typ string, n int) sluice.Position {
	t.Helper()
	events := make([]sluice.Event, n)
	for i := range events {
		events[i] = sluice.Event{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
	}
	res, err := c.Append(context.Background(), stream, sluice.AnyVersion, events...)
	if err != nil {
		t.Fatal(err)
	}
	return res.Position
}

func TestClient_PutSubscription(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := context.Background()
	c := client.New(srv.URL, client.WithKey(adminKey))
	head := appendN(t, c, "order-1", "order.placed", 3)
	r := client.New(srv.URL, client.WithKey(readKey))

	t.Run("Beginning", func(t *testing.T) {
		st, err := r.PutSubscription(ctx, "from-beginning", client.SubscriptionOptions{Filter: sluice.Filter{Category: "order"}})
		if err != nil {
			t.Fatal(err)
		}
		if st.Name != "from-beginning" || st.Start != 0 || st.Checkpoint != 0 || st.Head != head || st.LagEvents != uint64(head) || st.Filter.Category != "order" || st.CreatedAt.IsZero() {
			t.Fatalf("state %+v", st)
		}
	})

	t.Run("End", func(t *testing.T) {
		st, err := r.PutSubscription(ctx, "from-end", client.SubscriptionOptions{Start: client.End})
		if err != nil {
			t.Fatal(err)
		}
		if st.Start != head || st.Checkpoint != head || st.LagEvents != 0 {
			t.Fatalf("state %+v", st)
		}
	})

	t.Run("After", func(t *testing.T) {
		st, err := r.PutSubscription(ctx, "from-2", client.SubscriptionOptions{Start: client.After(2)})
		if err != nil {
			t.Fatal(err)
		}
		if st.Start != 2 || st.Checkpoint != 2 {
			t.Fatalf("state %+v", st)
		}
		b, err := r.Fetch(ctx, "from-2", client.FetchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Events) != 1 || b.Events[0].Position != 3 {
			t.Fatalf("batch %+v, want the event at 3 alone", b)
		}
	})

	t.Run("Update", func(t *testing.T) {
		if _, err := r.PutSubscription(ctx, "updated", client.SubscriptionOptions{Start: client.After(1)}); err != nil {
			t.Fatal(err)
		}
		st, err := r.PutSubscription(ctx, "updated", client.SubscriptionOptions{Filter: sluice.Filter{Types: []string{"order.placed"}}, Start: client.End})
		if err != nil {
			t.Fatal(err)
		}
		if st.Start != 1 || st.Checkpoint != 1 || fmt.Sprint(st.Filter.Types) != "[order.placed]" {
			t.Fatalf("state %+v: the filter is replaced, start and checkpoint kept", st)
		}
	})

	t.Run("GetListDelete", func(t *testing.T) {
		st, err := r.GetSubscription(ctx, "from-end")
		if err != nil {
			t.Fatal(err)
		}
		if st.Name != "from-end" || st.Checkpoint != head {
			t.Fatalf("state %+v", st)
		}
		var names []string
		after := ""
		for range 10 {
			list, err := r.ListSubscriptions(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range list.Subscriptions {
				names = append(names, s.Name)
			}
			if list.NextAfter == "" {
				break
			}
			after = list.NextAfter
		}
		if want := []string{"from-2", "from-beginning", "from-end", "updated"}; !slices.Equal(names, want) {
			t.Fatalf("listed %v, want %v", names, want)
		}
		if err := r.DeleteSubscription(ctx, "from-end"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.GetSubscription(ctx, "from-end"); !errors.Is(err, sluice.ErrSubscriptionNotFound) {
			t.Fatalf("get after delete: %v, want ErrSubscriptionNotFound", err)
		}
		if err := r.DeleteSubscription(ctx, "from-end"); !errors.Is(err, sluice.ErrSubscriptionNotFound) {
			t.Fatalf("delete again: %v, want ErrSubscriptionNotFound", err)
		}
	})

	t.Run("BadName", func(t *testing.T) {
		_, err := r.PutSubscription(ctx, "no/slash", client.SubscriptionOptions{})
		if e := apiError(t, err); e.Status != http.StatusBadRequest {
			t.Fatalf("error %#v", e)
		}
	})
}

func TestStart(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		start client.Start
		json  string
	}{
		{client.Start{}, `"beginning"`},
		{client.Beginning, `"beginning"`},
		{client.After(0), `"beginning"`},
		{client.End, `"end"`},
		{client.After(42), `42`},
	} {
		b, err := json.Marshal(tt.start)
		if err != nil || string(b) != tt.json {
			t.Errorf("%v: %s, %v; want %s", tt.start, b, err, tt.json)
		}
	}
}

func TestClient_FetchAck(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := context.Background()
	c := client.New(srv.URL, client.WithKey(adminKey))
	if _, err := c.PutSubscription(ctx, "orders", client.SubscriptionOptions{Filter: sluice.Filter{Types: []string{"order.placed"}}}); err != nil {
		t.Fatal(err)
	}
	appendN(t, c, "order-1", "order.placed", 3)
	last := appendN(t, c, "visitor-1", "page.viewed", 2)

	b, err := c.Fetch(ctx, "orders", client.FetchOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 2 || b.Position != 2 || b.Checkpoint != 0 {
		t.Fatalf("batch %+v", b)
	}
	again, err := c.Fetch(ctx, "orders", client.FetchOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Events) != 2 || again.Events[0].ID != b.Events[0].ID {
		t.Fatalf("without an ack: %+v, want the same events", again)
	}
	if cp, err := c.Ack(ctx, "orders", "", b.Position); err != nil || cp != 2 {
		t.Fatalf("ack: %d, %v", cp, err)
	}
	b, err = c.Fetch(ctx, "orders", client.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 1 || b.Events[0].Position != 3 || b.Position != last {
		t.Fatalf("batch %+v: the event at 3, and a position past the skipped ones (%d)", b, last)
	}

	t.Run("Behind", func(t *testing.T) {
		if cp, err := c.Ack(ctx, "orders", "", 1); err != nil || cp != 2 {
			t.Fatalf("ack behind the checkpoint: %d, %v; want 2", cp, err)
		}
	})
	t.Run("BeyondHead", func(t *testing.T) {
		_, err := c.Ack(ctx, "orders", "", last+10)
		if e := apiError(t, err); e.Status != http.StatusBadRequest || e.Code != "invalid_position" {
			t.Fatalf("error %#v", e)
		}
	})
	t.Run("Busy", func(t *testing.T) {
		_, err := c.Fetch(ctx, "orders", client.FetchOptions{Reader: "other"})
		if !errors.Is(err, client.ErrSubscriptionBusy) {
			t.Fatalf("error %v, want ErrSubscriptionBusy", err)
		}
		if e := apiError(t, err); e.Status != http.StatusConflict || e.RetryAfter <= 0 {
			t.Fatalf("error %#v: want a Retry-After", e)
		}
		if _, err := c.Ack(ctx, "orders", "other", last); !errors.Is(err, client.ErrSubscriptionBusy) {
			t.Fatalf("ack by another reader: %v, want ErrSubscriptionBusy", err)
		}
	})
	t.Run("OnlySkipped", func(t *testing.T) {
		if cp, err := c.Ack(ctx, "orders", "", last); err != nil || cp != last {
			t.Fatalf("ack: %d, %v", cp, err)
		}
		skipped := appendN(t, c, "visitor-2", "page.viewed", 3)
		b, err := c.Fetch(ctx, "orders", client.FetchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Events) != 0 || b.Position != skipped || b.Checkpoint != last {
			t.Fatalf("batch %+v: no events, position %d", b, skipped)
		}
	})
	t.Run("LongPoll", func(t *testing.T) {
		b, err := c.Fetch(ctx, "orders", client.FetchOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Ack(ctx, "orders", "", b.Position); err != nil {
			t.Fatal(err)
		}
		got := make(chan client.Batch, 1)
		go func() {
			b, err := c.Fetch(ctx, "orders", client.FetchOptions{Wait: 30 * time.Second})
			if err != nil {
				t.Error(err)
			}
			got <- b
		}()
		p := appendN(t, c, "order-2", "order.placed", 1)
		select {
		case b := <-got:
			if len(b.Events) != 1 || b.Events[0].Position != p {
				t.Fatalf("batch %+v", b)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the long poll did not return with the new event")
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		if _, err := c.Fetch(ctx, "nope", client.FetchOptions{}); !errors.Is(err, sluice.ErrSubscriptionNotFound) {
			t.Fatalf("fetch: %v", err)
		}
		if _, err := c.Ack(ctx, "nope", "", 1); !errors.Is(err, sluice.ErrSubscriptionNotFound) {
			t.Fatalf("ack: %v", err)
		}
		if err := c.Wait(ctx, "nope", 1, time.Second); !errors.Is(err, sluice.ErrSubscriptionNotFound) {
			t.Fatalf("wait: %v", err)
		}
	})
}

func TestClient_Wait(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := context.Background()
	c := client.New(srv.URL, client.WithKey(adminKey))
	if _, err := c.PutSubscription(ctx, "orders", client.SubscriptionOptions{Filter: sluice.Filter{Category: "order"}}); err != nil {
		t.Fatal(err)
	}
	p := appendN(t, c, "order-1", "order.placed", 2)

	t.Run("Timeout", func(t *testing.T) {
		start := time.Now()
		err := c.Wait(ctx, "orders", p, 200*time.Millisecond)
		if !errors.Is(err, client.ErrWaitTimeout) {
			t.Fatalf("error %v, want ErrWaitTimeout", err)
		}
		if e := apiError(t, err); e.Status != http.StatusRequestTimeout {
			t.Fatalf("error %#v", e)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("returned after %s", d)
		}
	})

	t.Run("Acked", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- c.Wait(ctx, "orders", p, 10*time.Second) }()
		if _, err := c.Ack(ctx, "orders", "", p); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Wait did not return after the ack")
		}
	})

	t.Run("Skipped", func(t *testing.T) {
		// Events the filter skips count as processed.
		q := appendN(t, c, "visitor-1", "page.viewed", 3)
		if err := c.Wait(ctx, "orders", q, time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ContextDeadline", func(t *testing.T) {
		q := appendN(t, c, "order-2", "order.placed", 1)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if err := c.Wait(cctx, "orders", q, 5*time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want the context's", err)
		}
	})
}

// collector is a handler that records what it is given.
type collector struct {
	mu     sync.Mutex
	events []sluice.Event
	calls  int
}

func (c *collector) handle(ctx context.Context, events []sluice.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, events...)
	c.calls++
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

// positions returns the positions handled, in order.
func (c *collector) positions() []sluice.Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ps []sluice.Position
	for _, e := range c.events {
		ps = append(ps, e.Position)
	}
	return ps
}

// subscribe runs Subscribe in a goroutine until the test ends or stop is
// called; stop returns Subscribe's error.
func subscribe(t *testing.T, c *client.Client, name string, h client.Handler, opts ...client.SubscribeOption) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Subscribe(ctx, name, h, opts...) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("Subscribe did not return within 10s of its context's end")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestClient_Subscribe(t *testing.T) {
	t.Parallel()

	t.Run("CatchUpThenLive", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		ctx := context.Background()
		c := client.New(srv.URL, client.WithKey(adminKey))
		appendN(t, c, "order-1", "order.placed", 120)
		appendN(t, c, "visitor-1", "page.viewed", 30) // skipped
		appendN(t, c, "order-2", "order.placed", 130)
		if _, err := c.PutSubscription(ctx, "orders", client.SubscriptionOptions{Filter: sluice.Filter{Category: "order"}}); err != nil {
			t.Fatal(err)
		}
		var h collector
		stop := subscribe(t, c, "orders", h.handle, client.BatchSize(50))
		testutil.Eventually(t, 10*time.Second, func() bool { return h.count() >= 250 }, "the backlog is handled")

		// Live: the long poll (30s) returns with each commit.
		start := time.Now()
		for i := range 5 {
			p := appendN(t, c, fmt.Sprintf("order-live-%d", i), "order.placed", 1)
			if err := c.Wait(ctx, "orders", p, 10*time.Second); err != nil {
				t.Fatalf("live event %d: %v", i, err)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("5 live events took %s: the long poll is not woken by commits", d)
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe returned %v, want context.Canceled", err)
		}

		ps := h.positions()
		if len(ps) != 255 {
			t.Fatalf("handled %d events, want 255", len(ps))
		}
		for i := 1; i < len(ps); i++ {
			if ps[i] <= ps[i-1] {
				t.Fatalf("position %d after %d: each event once, in log order", ps[i], ps[i-1])
			}
		}
		for _, e := range h.events {
			if sluice.Category(e.Stream) != "order" {
				t.Fatalf("handled %+v, which the filter skips", e)
			}
		}
		st, err := c.GetSubscription(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		if st.Checkpoint != st.Head || st.Hold != 0 {
			t.Fatalf("state %+v: everything acknowledged", st)
		}
		if h.calls > 12 {
			t.Errorf("%d handler calls for 255 events in batches of 50", h.calls)
		}
	})

	t.Run("SkippedOnly", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		ctx := context.Background()
		c := client.New(srv.URL, client.WithKey(adminKey))
		if _, err := c.PutSubscription(ctx, "orders", client.SubscriptionOptions{Filter: sluice.Filter{Category: "order"}}); err != nil {
			t.Fatal(err)
		}
		var h collector
		// A long poll that finds only events the filter skips answers at
		// its end, with the position past them.
		subscribe(t, c, "orders", h.handle, client.LongPoll(100*time.Millisecond))
		p := appendN(t, c, "visitor-1", "page.viewed", 10)
		testutil.Eventually(t, 10*time.Second, func() bool {
			st, err := c.GetSubscription(ctx, "orders")
			return err == nil && st.Checkpoint == p
		}, "the checkpoint moves past skipped events")
		if h.calls != 0 {
			t.Fatalf("the handler was called %d times for skipped events", h.calls)
		}
	})

	t.Run("AckedAtTheEnd", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		c := client.New(srv.URL, client.WithKey(adminKey))
		if _, err := c.PutSubscription(context.Background(), "orders", client.SubscriptionOptions{}); err != nil {
			t.Fatal(err)
		}
		p := appendN(t, c, "order-1", "order.placed", 3)
		// The handler's batch is acknowledged even though ctx ends before
		// the next read would have carried the acknowledgement.
		ctx, cancel := context.WithCancel(context.Background())
		err := c.Subscribe(ctx, "orders", func(context.Context, []sluice.Event) error {
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Subscribe returned %v", err)
		}
		st, err := c.GetSubscription(context.Background(), "orders")
		if err != nil || st.Checkpoint != p {
			t.Fatalf("checkpoint %d (%v), want %d", st.Checkpoint, err, p)
		}
	})

	t.Run("HandlerError", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		ctx := context.Background()
		c := client.New(srv.URL, client.WithKey(adminKey))
		if _, err := c.PutSubscription(ctx, "orders", client.SubscriptionOptions{}); err != nil {
			t.Fatal(err)
		}
		appendN(t, c, "order-1", "order.placed", 10)
		boom := errors.New("boom")
		var first []sluice.Event
		calls := 0
		err := c.Subscribe(ctx, "orders", func(ctx context.Context, events []sluice.Event) error {
			calls++
			if calls == 1 {
				return nil // the first batch is acknowledged
			}
			first = events
			return boom
		}, client.BatchSize(4), client.ReaderName("worker"))
		if !errors.Is(err, boom) {
			t.Fatalf("Subscribe returned %v, want the handler's error", err)
		}
		if len(first) != 4 || first[0].Position != 5 {
			t.Fatalf("failed batch %+v", first)
		}
		// The failed batch comes again to the next Subscribe.
		var again []sluice.Event
		err = c.Subscribe(ctx, "orders", func(ctx context.Context, events []sluice.Event) error {
			again = events
			return boom
		}, client.BatchSize(4), client.ReaderName("worker"))
		if !errors.Is(err, boom) {
			t.Fatalf("Subscribe returned %v", err)
		}
		if len(again) != 4 || again[0].ID != first[0].ID || again[3].ID != first[3].ID {
			t.Fatalf("got %+v again, want %+v", again, first)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		c := client.New(srv.URL, client.WithKey(adminKey))
		var h collector
		if err := c.Subscribe(context.Background(), "nope", h.handle); !errors.Is(err, sluice.ErrSubscriptionNotFound) {
			t.Fatalf("Subscribe returned %v, want ErrSubscriptionNotFound", err)
		}
	})

	t.Run("BadKey", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		c := client.New(srv.URL, client.WithKey(writeKey))
		var h collector
		err := c.Subscribe(context.Background(), "orders", h.handle)
		if e := apiError(t, err); e.Status != http.StatusForbidden {
			t.Fatalf("Subscribe returned %v, want 403", err)
		}
	})

	t.Run("Takeover", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, func(cfg *httpapi.Config) { cfg.SubscriptionReaderTTL = time.Second })
		ctx := context.Background()
		c := client.New(srv.URL, client.WithKey(adminKey))
		if _, err := c.PutSubscription(ctx, "orders", client.SubscriptionOptions{}); err != nil {
			t.Fatal(err)
		}
		var active, standby collector
		stopActive := subscribe(t, c, "orders", active.handle, client.LongPoll(200*time.Millisecond))
		p := appendN(t, c, "order-1", "order.placed", 3)
		if err := c.Wait(ctx, "orders", p, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		var busy atomic.Int32
		subscribe(t, c, "orders", standby.handle, client.LongPoll(200*time.Millisecond), client.OnRetry(func(err error, delay time.Duration) {
			if errors.Is(err, client.ErrSubscriptionBusy) {
				if delay <= 0 || delay > 2*time.Second {
					t.Errorf("busy: waits %s", delay)
				}
				busy.Add(1)
			}
		}))
		testutil.Eventually(t, 10*time.Second, func() bool { return busy.Load() > 0 }, "the standby is told the subscription is busy")
		p = appendN(t, c, "order-2", "order.placed", 2)
		if err := c.Wait(ctx, "orders", p, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if active.count() != 5 || standby.count() != 0 {
			t.Fatalf("active handled %d, standby %d; want 5 and 0", active.count(), standby.count())
		}

		// The active reader goes away; the standby takes over once its
		// lease expires.
		if err := stopActive(); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		p = appendN(t, c, "order-3", "order.placed", 4)
		if err := c.Wait(ctx, "orders", p, 10*time.Second); err != nil {
			t.Fatalf("the standby did not take over: %v", err)
		}
		if active.count() != 5 || standby.count() != 4 {
			t.Fatalf("active handled %d, standby %d; want 5 and 4", active.count(), standby.count())
		}
	})

	t.Run("Unavailable", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t)
		ctx := context.Background()
		c := client.New(srv.URL, client.WithKey(adminKey))
		if _, err := c.PutSubscription(ctx, "orders", client.SubscriptionOptions{}); err != nil {
			t.Fatal(err)
		}
		p := appendN(t, c, "order-1", "order.placed", 3)

		// A front that fails the first requests: 503s, then an answer cut
		// short, then passes them on.
		target, _ := url.Parse(srv.URL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		var requests atomic.Int32
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch n := requests.Add(1); {
			case n <= 3:
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"type":"x","title":"Service Unavailable","status":503,"code":"store_unavailable"}`)
			case n == 4:
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", "1000")
				fmt.Fprint(w, `{"events":[`) // and the connection is closed
			default:
				proxy.ServeHTTP(w, r)
			}
		}))
		defer front.Close()

		var delays []time.Duration
		var mu sync.Mutex
		var h collector
		stop := subscribe(t, client.New(front.URL, client.WithKey(adminKey)), "orders", h.handle, client.OnRetry(func(err error, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			delays = append(delays, d)
		}))
		if err := c.Wait(ctx, "orders", p, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(delays) != 4 {
			t.Fatalf("retried %d times (%v), want 4", len(delays), delays)
		}
		for i, d := range delays {
			hi := (100 * time.Millisecond) << i
			if d < hi/2 || d > hi {
				t.Errorf("retry %d waited %s, want %s to %s", i, d, hi/2, hi)
			}
		}
		if h.count() != 3 {
			t.Fatalf("handled %d events", h.count())
		}
	})
}
