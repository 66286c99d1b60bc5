package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/httpapi"
)

func ev(typ, data string) sluice.Event {
	return sluice.Event{Type: typ, Data: json.RawMessage(data)}
}

// apiError returns err as an *client.Error, failing the test if it is not
// one.
func apiError(t *testing.T, err error) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *client.Error", err, err)
	}
	return e
}

func TestClient_Ingest(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := client.New(srv.URL, client.WithKey(writeKey))
	ctx := context.Background()

	t.Run("Durable", func(t *testing.T) {
		data := `{"path": "/pricing", "<html>": "&"}` // spaces and <>& kept as sent
		res, err := c.Ingest(ctx, []sluice.Event{
			{ID: "ingest-1", Type: "page.viewed", Data: json.RawMessage(data), Metadata: json.RawMessage(`{"trace":"t1"}`)},
			{ID: "ingest-2", Type: "page.viewed", Stream: "visitor-7", Data: json.RawMessage(`1`)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 2 || res.Duplicates != 0 || len(res.Rejected) != 0 || res.Position == 0 {
			t.Fatalf("result %+v", res)
		}
		page, err := client.New(srv.URL, client.WithKey(readKey)).ReadLog(ctx, res.Position-1, sluice.Filter{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 1 || page.Events[0].ID != "ingest-2" || page.Events[0].Stream != "visitor-7" || page.Events[0].Source != "collector" {
			t.Fatalf("read back %+v", page.Events)
		}
		page, _ = client.New(srv.URL, client.WithKey(readKey)).ReadLog(ctx, res.Position-2, sluice.Filter{}, 1)
		if got := string(page.Events[0].Data); got != data {
			t.Fatalf("data %s, want %s byte for byte", got, data)
		}
	})

	t.Run("Duplicates", func(t *testing.T) {
		res, err := c.Ingest(ctx, []sluice.Event{{ID: "ingest-1", Type: "page.viewed", Data: json.RawMessage(`{}`)}, {ID: "ingest-3", Type: "page.viewed", Data: json.RawMessage(`{}`)}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 1 || res.Duplicates != 1 {
			t.Fatalf("result %+v, want 1 accepted and 1 duplicate", res)
		}
	})

	t.Run("SomeRejected", func(t *testing.T) {
		res, err := c.Ingest(ctx, []sluice.Event{
			ev("ok.event", `{}`),
			{ID: "bad-1", Type: "bad type!", Data: json.RawMessage(`{}`)},
			ev("ok.event", `{}`),
			{Type: "no.data"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 2 || len(res.Rejected) != 2 {
			t.Fatalf("result %+v, want 2 accepted and 2 rejected", res)
		}
		r := res.Rejected[0]
		if r.Index != 1 || r.ID != "bad-1" || len(r.Errors) == 0 || r.Errors[0].Path != "/type" {
			t.Errorf("rejection %+v", r)
		}
		if r := res.Rejected[1]; r.Index != 3 || r.Errors[0].Path != "/data" {
			t.Errorf("rejection %+v", r)
		}
	})

	t.Run("NoneValid", func(t *testing.T) {
		_, err := c.Ingest(ctx, []sluice.Event{{Type: "bad type!", Data: json.RawMessage(`1`)}})
		e := apiError(t, err)
		if e.Status != http.StatusBadRequest || e.Code != "invalid_events" || !errors.Is(err, sluice.ErrInvalidEvent) {
			t.Fatalf("error %#v", e)
		}
		if rs := e.Rejections(); len(rs) != 1 || rs[0].Index != 0 || rs[0].Errors[0].Path != "/type" {
			t.Fatalf("rejections %+v", rs)
		}
	})

	t.Run("Atomic", func(t *testing.T) {
		before, _ := srv.Store.Head(ctx)
		_, err := c.Ingest(ctx, []sluice.Event{ev("ok.event", `{}`), ev("bad type!", `{}`)}, client.Atomic())
		if e := apiError(t, err); e.Code != "invalid_events" || len(e.Rejections()) != 1 || e.Rejections()[0].Index != 1 {
			t.Fatalf("error %#v", e)
		}
		if after, _ := srv.Store.Head(ctx); after != before {
			t.Fatalf("head moved from %d to %d: an atomic request stored something", before, after)
		}
	})

	t.Run("Async", func(t *testing.T) {
		res, err := c.Ingest(ctx, []sluice.Event{{ID: "async-1", Type: "ok.event", Data: json.RawMessage(`{}`)}}, client.Async())
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 1 || res.Position != 0 {
			t.Fatalf("result %+v", res)
		}
	})

	t.Run("SchemaViolation", func(t *testing.T) {
		srv.put(t, "/v1/schemas/order.paid", `{"type":"object","required":["amount"],"properties":{"amount":{"type":"number","minimum":0}}}`)
		res, err := c.Ingest(ctx, []sluice.Event{ev("order.paid", `{"amount": 5}`), ev("order.paid", `{"amount": -1}`)})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rejected) != 1 {
			t.Fatalf("result %+v", res)
		}
		fe := res.Rejected[0].Errors[0]
		if fe.Index != 1 || fe.Path != "/data/amount" || fe.Keyword != "minimum" || fe.Message == "" {
			t.Fatalf("field error %+v", fe)
		}
	})

	t.Run("InvalidJSON", func(t *testing.T) {
		_, err := c.Ingest(ctx, []sluice.Event{ev("ok.event", `{`)})
		var ee *sluice.EventError
		if !errors.As(err, &ee) || ee.Field != "data" || !errors.Is(err, sluice.ErrInvalidEvent) {
			t.Fatalf("error %v, want an *sluice.EventError for data", err)
		}
	})
}

func TestClient_Append(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c := client.New(srv.URL, client.WithKey(writeKey))
	ctx := context.Background()

	res, err := c.Append(ctx, "order-1", sluice.NoStream, ev("order.placed", `{"total": 10}`), ev("order.paid", `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 2 || res.Position == 0 {
		t.Fatalf("result %+v", res)
	}

	t.Run("ExactVersion", func(t *testing.T) {
		res2, err := c.Append(ctx, "order-1", sluice.ExactVersion(2), ev("order.shipped", `{}`))
		if err != nil {
			t.Fatal(err)
		}
		if res2.Version != 3 || res2.Position <= res.Position {
			t.Fatalf("result %+v after %+v", res2, res)
		}
	})

	t.Run("WrongExpectedVersion", func(t *testing.T) {
		_, err := c.Append(ctx, "order-1", sluice.ExactVersion(1), ev("order.cancelled", `{}`))
		if !errors.Is(err, sluice.ErrWrongExpectedVersion) {
			t.Fatalf("error %v, want ErrWrongExpectedVersion", err)
		}
		var wv *sluice.WrongExpectedVersionError
		if !errors.As(err, &wv) || wv.Current != 3 || wv.Stream != "order-1" || wv.Expected != sluice.ExactVersion(1) {
			t.Fatalf("error %#v, want current version 3", wv)
		}
		if e := apiError(t, err); e.Status != http.StatusConflict || e.CurrentVersion != 3 {
			t.Fatalf("error %#v", e)
		}
		_, err = c.Append(ctx, "order-1", sluice.NoStream, ev("order.placed", `{}`))
		if !errors.Is(err, sluice.ErrWrongExpectedVersion) {
			t.Fatalf("error %v, want ErrWrongExpectedVersion", err)
		}
		_, err = c.Append(ctx, "order-404", sluice.StreamExists, ev("order.placed", `{}`))
		if !errors.As(err, &wv) || wv.Current != 0 {
			t.Fatalf("error %v, want current version 0", err)
		}
	})

	t.Run("Retried", func(t *testing.T) {
		e1 := sluice.Event{ID: "cart-9-1", Type: "cart.created", Data: json.RawMessage(`{}`)}
		first, err := c.Append(ctx, "cart-9", sluice.NoStream, e1)
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Append(ctx, "cart-9", sluice.NoStream, e1)
		if err != nil {
			t.Fatalf("a retried append: %v", err)
		}
		if again.Duplicates != 1 || again.Position != first.Position {
			t.Fatalf("retried %+v, first %+v", again, first)
		}
	})

	t.Run("EscapedStream", func(t *testing.T) {
		stream := "tenant/a b?c#d%2F-é"
		if _, err := c.Append(ctx, stream, sluice.NoStream, ev("odd.named", `{}`)); err != nil {
			t.Fatal(err)
		}
		page, err := client.New(srv.URL, client.WithKey(readKey)).ReadStream(ctx, stream, sluice.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 1 || page.Events[0].Stream != stream {
			t.Fatalf("events %+v", page.Events)
		}
	})

	t.Run("OtherStream", func(t *testing.T) {
		e := ev("order.placed", `{}`)
		e.Stream = "order-2"
		_, err := c.Append(ctx, "order-3", sluice.AnyVersion, e)
		if e := apiError(t, err); e.Code != "invalid_events" || len(e.Errors) != 1 || e.Errors[0].Path != "/stream" {
			t.Fatalf("error %#v", e)
		}
	})
}

func TestClient_ReadStream(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := context.Background()
	w := client.New(srv.URL, client.WithKey(writeKey))
	for i := range 5 {
		if _, err := w.Append(ctx, "account-1", sluice.ExactVersion(uint64(i)), ev("account.credited", fmt.Sprintf(`{"n":%d}`, i+1))); err != nil {
			t.Fatal(err)
		}
	}
	c := client.New(srv.URL, client.WithKey(readKey))

	versions := func(evs []sluice.Event) []uint64 {
		var vs []uint64
		for _, e := range evs {
			vs = append(vs, e.Version)
		}
		return vs
	}

	t.Run("Forward", func(t *testing.T) {
		var all []uint64
		opts := sluice.ReadStreamOptions{Limit: 2}
		for range 10 {
			page, err := c.ReadStream(ctx, "account-1", opts)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, versions(page.Events)...)
			if page.Next == nil {
				t.Fatal("a forward read without Next")
			}
			if len(page.Events) < opts.Limit {
				break
			}
			opts = *page.Next
		}
		if fmt.Sprint(all) != "[1 2 3 4 5]" {
			t.Fatalf("versions %v", all)
		}
	})

	t.Run("Backward", func(t *testing.T) {
		var all []uint64
		opts := sluice.ReadStreamOptions{Limit: 2, Backward: true}
		for n := 0; ; n++ {
			if n > 10 {
				t.Fatal("no end")
			}
			page, err := c.ReadStream(ctx, "account-1", opts)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, versions(page.Events)...)
			if page.Next == nil {
				break
			}
			opts = *page.Next
			if !opts.Backward || opts.Limit != 2 {
				t.Fatalf("next %+v", opts)
			}
		}
		if fmt.Sprint(all) != "[5 4 3 2 1]" {
			t.Fatalf("versions %v", all)
		}
	})

	t.Run("FromVersion", func(t *testing.T) {
		page, err := c.ReadStream(ctx, "account-1", sluice.ReadStreamOptions{FromVersion: 4})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(versions(page.Events)) != "[4 5]" || string(page.Events[0].Data) != `{"n":4}` {
			t.Fatalf("events %+v", page.Events)
		}
		if page.Next == nil || page.Next.FromVersion != 6 {
			t.Fatalf("next %+v", page.Next)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		_, err := c.ReadStream(ctx, "account-404", sluice.ReadStreamOptions{})
		if !errors.Is(err, sluice.ErrStreamNotFound) {
			t.Fatalf("error %v, want ErrStreamNotFound", err)
		}
		if e := apiError(t, err); e.Status != http.StatusNotFound || e.Code != "stream_not_found" {
			t.Fatalf("error %#v", e)
		}
	})
}

func TestClient_ReadLog(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := context.Background()
	w := client.New(srv.URL, client.WithKey(writeKey))
	events := []sluice.Event{
		{Type: "order.placed", Stream: "order-1", Data: json.RawMessage(`{}`)},
		{Type: "page.viewed", Stream: "visitor-1", Data: json.RawMessage(`{}`)},
		{Type: "order.paid", Stream: "order-1", Data: json.RawMessage(`{}`)},
		{Type: "order.placed", Stream: "order-2", Data: json.RawMessage(`{}`)},
		{Type: "order.placed", Stream: "orderly-1", Data: json.RawMessage(`{}`)},
	}
	if _, err := w.Ingest(ctx, events); err != nil {
		t.Fatal(err)
	}
	c := client.New(srv.URL, client.WithKey(readKey))

	streams := func(evs []sluice.Event) string {
		var s []string
		for _, e := range evs {
			s = append(s, fmt.Sprintf("%d:%s:%s", e.Position, e.Stream, e.Type))
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct {
		name  string
		after sluice.Position
		f     sluice.Filter
		limit int
		want  string
		next  sluice.Position
	}{
		{"All", 0, sluice.Filter{}, 0, "1:order-1:order.placed 2:visitor-1:page.viewed 3:order-1:order.paid 4:order-2:order.placed 5:orderly-1:order.placed", 5},
		{"Page", 1, sluice.Filter{}, 2, "2:visitor-1:page.viewed 3:order-1:order.paid", 3},
		{"Types", 0, sluice.Filter{Types: []string{"order.paid", "page.viewed"}}, 0, "2:visitor-1:page.viewed 3:order-1:order.paid", 3},
		{"Category", 0, sluice.Filter{Category: "order"}, 0, "1:order-1:order.placed 3:order-1:order.paid 4:order-2:order.placed", 4},
		{"StreamPrefix", 0, sluice.Filter{StreamPrefix: "order"}, 0, "1:order-1:order.placed 3:order-1:order.paid 4:order-2:order.placed 5:orderly-1:order.placed", 5},
		{"AtTheEnd", 5, sluice.Filter{}, 0, "", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			page, err := c.ReadLog(ctx, tt.after, tt.f, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := streams(page.Events); got != tt.want || page.NextAfter != tt.next {
				t.Fatalf("got %q next %d, want %q next %d", got, page.NextAfter, tt.want, tt.next)
			}
		})
	}

	t.Run("BadLimit", func(t *testing.T) {
		_, err := c.ReadLog(ctx, 0, sluice.Filter{}, 5000)
		if e := apiError(t, err); e.Status != http.StatusBadRequest || e.Code != "invalid_parameter" {
			t.Fatalf("error %#v", e)
		}
	})
}

func TestClient_ListStreams(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := context.Background()
	w := client.New(srv.URL, client.WithKey(writeKey))
	for _, s := range []string{"a-1", "a-2", "a-3", "b-1"} {
		if _, err := w.Append(ctx, s, sluice.NoStream, ev("x.happened", `{}`), ev("x.happened", `{}`)); err != nil {
			t.Fatal(err)
		}
	}
	c := client.New(srv.URL, client.WithKey(readKey))
	var names []string
	after := ""
	for range 5 {
		list, err := c.ListStreams(ctx, "a-", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list.Streams {
			if s.Version != 2 || s.LastPosition == 0 {
				t.Fatalf("stream %+v", s)
			}
			names = append(names, s.Stream)
		}
		if list.NextAfter == "" {
			break
		}
		after = list.NextAfter
	}
	if fmt.Sprint(names) != "[a-1 a-2 a-3]" {
		t.Fatalf("streams %v", names)
	}
}

func TestClient_Errors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(cfg *httpapi.Config) {
		cfg.Keys = append(cfg.Keys, httpapi.Key{Name: "slow", Secret: "sk_slow_0123456789abcdef", Role: httpapi.RoleAdmin, Rate: 0.001, Burst: 1})
		cfg.RetryAfter = 3 * time.Second
	})
	ctx := context.Background()

	t.Run("UnknownKey", func(t *testing.T) {
		_, err := client.New(srv.URL, client.WithKey("sk_nobody_0123456789abc")).ReadLog(ctx, 0, sluice.Filter{}, 0)
		e := apiError(t, err)
		if e.Status != http.StatusUnauthorized || e.Code != "unknown_key" || e.Title == "" || e.Detail == "" {
			t.Fatalf("error %#v", e)
		}
		if !strings.Contains(err.Error(), "401 unknown_key") {
			t.Fatalf("message %q", err)
		}
	})

	t.Run("NoKey", func(t *testing.T) {
		_, err := client.New(srv.URL).Append(ctx, "s", sluice.AnyVersion, ev("x.y", `{}`))
		if e := apiError(t, err); e.Status != http.StatusUnauthorized || e.Code != "missing_key" {
			t.Fatalf("error %#v", e)
		}
	})

	t.Run("WrongRole", func(t *testing.T) {
		_, err := client.New(srv.URL, client.WithKey(writeKey)).ReadLog(ctx, 0, sluice.Filter{}, 0)
		if e := apiError(t, err); e.Status != http.StatusForbidden || e.Code != "role_not_allowed" {
			t.Fatalf("error %#v", e)
		}
	})

	t.Run("RetryAfter", func(t *testing.T) {
		c := client.New(srv.URL, client.WithKey("sk_slow_0123456789abcdef"))
		var err error
		for range 3 {
			if _, err = c.ReadLog(ctx, 0, sluice.Filter{}, 0); err != nil {
				break
			}
		}
		e := apiError(t, err)
		if e.Status != http.StatusTooManyRequests || e.Code != "rate_limited" || e.RetryAfter < time.Second {
			t.Fatalf("error %#v", e)
		}
	})

	t.Run("NotAProblem", func(t *testing.T) {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			http.Error(w, "upstream is down", http.StatusBadGateway)
		}))
		defer proxy.Close()
		_, err := client.New(proxy.URL).ReadLog(ctx, 0, sluice.Filter{}, 0)
		e := apiError(t, err)
		if e.Status != http.StatusBadGateway || e.Code != "" || e.Detail != "upstream is down" || e.RetryAfter != 7*time.Second {
			t.Fatalf("error %#v", e)
		}
	})

	t.Run("BadBaseURL", func(t *testing.T) {
		for _, base := range []string{"127.0.0.1:7070", "http://", "ftp://host", "http://host/?q=1"} {
			if _, err := client.New(base).ReadLog(ctx, 0, sluice.Filter{}, 0); err == nil {
				t.Errorf("base URL %q: no error", base)
			}
		}
	})

	t.Run("UnusableNames", func(t *testing.T) {
		c := client.New(srv.URL, client.WithKey(adminKey))
		for _, name := range []string{"", ".", ".."} {
			if _, err := c.ReadStream(ctx, name, sluice.ReadStreamOptions{}); err == nil {
				t.Errorf("ReadStream(%q): no error", name)
			}
			if _, err := c.Append(ctx, name, sluice.AnyVersion, ev("x.y", `{}`)); err == nil {
				t.Errorf("Append(%q): no error", name)
			}
			if _, err := c.GetSubscription(ctx, name); err == nil {
				t.Errorf("GetSubscription(%q): no error", name)
			}
		}
	})

	t.Run("BaseURLWithPrefix", func(t *testing.T) {
		prefixed := httptest.NewServer(http.StripPrefix("/sluice", srv.API))
		defer prefixed.Close()
		for _, base := range []string{prefixed.URL + "/sluice", prefixed.URL + "/sluice/"} {
			if _, err := client.New(base, client.WithKey(readKey)).ReadLog(ctx, 0, sluice.Filter{}, 0); err != nil {
				t.Errorf("base URL %q: %v", base, err)
			}
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := client.New(srv.URL, client.WithKey(readKey)).ReadLog(cctx, 0, sluice.Filter{}, 0)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("HTTPClient", func(t *testing.T) {
		var calls int
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			calls++
			return http.DefaultTransport.RoundTrip(r)
		})}
		if _, err := client.New(srv.URL, client.WithKey(readKey), client.WithHTTPClient(hc)).ReadLog(ctx, 0, sluice.Filter{}, 0); err != nil {
			t.Fatal(err)
		}
		if calls != 1 {
			t.Fatalf("%d calls through the HTTP client", calls)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestError_Is(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code   string
		target error
	}{
		{"wrong_expected_version", sluice.ErrWrongExpectedVersion},
		{"stream_not_found", sluice.ErrStreamNotFound},
		{"subscription_not_found", sluice.ErrSubscriptionNotFound},
		{"wait_timeout", client.ErrWaitTimeout},
		{"subscription_busy", client.ErrSubscriptionBusy},
		{"storage_full", sluice.ErrStorageFull},
		{"storage_full", sluice.ErrUnavailable},
		{"store_unavailable", sluice.ErrUnavailable},
	} {
		var err error = fmt.Errorf("wrapped: %w", &client.Error{Code: tt.code})
		if !errors.Is(err, tt.target) {
			t.Errorf("code %s is not %v", tt.code, tt.target)
		}
	}
	if errors.Is(&client.Error{Code: "subscription_busy"}, client.ErrWaitTimeout) {
		t.Error("subscription_busy is ErrWaitTimeout")
	}
	if errors.Is(&client.Error{Code: "store_unavailable"}, sluice.ErrStorageFull) {
		t.Error("store_unavailable is ErrStorageFull")
	}
}
