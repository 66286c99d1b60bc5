package webhook_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sink/webhook"
	"github.com/sluicehq/sluice/sinktest"
)

// Secrets of the tests (whsec_ and base64 of 32 bytes).
var (
	secret1 = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	secret2 = "whsec_" + base64.StdEncoding.EncodeToString([]byte("fedcba9876543210fedcba9876543210"))
)

// receiver is an HTTP receiver of webhook deliveries. It checks every
// delivery's signature (with Verify and by hand), keeps the events, and
// answers as the test says.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	requests []delivery
	events   [][]byte
	// answer, when set, decides the answer to a delivery of these event
	// ids; 0 takes it.
	answer func(ids []string) (status int, header http.Header)
	hang   chan struct{} // while not nil, deliveries wait on it
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.mu.Lock()
		if r.hang != nil {
			close(r.hang)
			r.hang = nil
		}
		r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	if err := webhook.Verify([]string{secret1}, req.Header, body, 5*time.Minute); err != nil {
		r.t.Errorf("a delivery fails verification: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !signedBy(secret1, req.Header, body) {
		r.t.Errorf("a delivery's signature is not the HMAC computed by hand")
	}
	var batch struct{ Events []json.RawMessage }
	if err := json.Unmarshal(body, &batch); err != nil {
		r.t.Errorf("a delivery is not {\"events\": [...]}: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var ids []string
	for _, e := range batch.Events {
		var ev struct{ ID string }
		_ = json.Unmarshal(e, &ev)
		ids = append(ids, ev.ID)
	}
	r.mu.Lock()
	hang, answer := r.hang, r.answer
	r.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
			return
		}
	}
	status, header := 0, http.Header(nil)
	if answer != nil {
		status, header = answer(ids)
	}
	r.mu.Lock()
	r.requests = append(r.requests, delivery{req.Header.Clone(), body})
	if status == 0 || status/100 == 2 {
		for _, e := range batch.Events {
			r.events = append(r.events, e)
		}
	}
	r.mu.Unlock()
	for k, vs := range header {
		w.Header()[k] = vs
	}
	if status == 0 {
		status = http.StatusNoContent
	}
	w.WriteHeader(status)
	fmt.Fprintf(w, "answered %d", status)
}

// signedBy checks the signature by hand, apart from the package's code.
func signedBy(secret string, h http.Header, body []byte) bool {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if sig == want {
			return true
		}
	}
	return false
}

func (r *receiver) script(answer func(ids []string) (int, http.Header)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answer = answer
}

func (r *receiver) received() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.requests...)
}

// newHarness is the receiver as the conformance suite takes it.
func newHarness(t *testing.T) sinktest.Harness {
	r := newReceiver(t)
	var mu sync.Mutex
	down, refused := false, map[string]bool{}
	r.script(func(ids []string) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusServiceUnavailable, nil
		}
		for _, id := range ids {
			if refused[id] {
				return http.StatusUnprocessableEntity, nil
			}
		}
		return 0, nil
	})
	return sinktest.Harness{
		Destination: &webhook.Config{URL: r.srv.URL, Secret: secret1, Timeout: 5 * time.Second},
		Fields:      map[string]any{"type": "webhook", "url": r.srv.URL, "secret": secret1},
		Received: func(testing.TB) [][]byte {
			r.mu.Lock()
			defer r.mu.Unlock()
			return append([][]byte(nil), r.events...)
		},
		Outage: func(_ testing.TB, on bool) {
			mu.Lock()
			defer mu.Unlock()
			down = on
		},
		Refuse: func(_ testing.TB, ids []string) {
			mu.Lock()
			defer mu.Unlock()
			clear(refused)
			for _, id := range ids {
				refused[id] = true
			}
		},
	}
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, newHarness, sinktest.Features{})
}

// records makes n stored events from position first.
func records(first, n int) []sluice.SinkRecord {
	out := make([]sluice.SinkRecord, n)
	for i := range out {
		e := &sluice.Event{ID: fmt.Sprintf("e-%d", first+i), Type: "order.placed", Stream: "order-1", Position: sluice.Position(first + i),
			Version: uint64(i + 1), Data: json.RawMessage(`{"total": 12.50, "note": "<&>"}`), RecordedAt: time.Now()}
		out[i] = sluice.SinkRecord{Event: e, Body: e.AppendJSON(nil)}
	}
	return out
}

// open opens the sink of c and closes it when t ends.
func open(t testing.TB, c *webhook.Config) sluice.Sink {
	t.Helper()
	return sinktest.Open[sluice.Sink](t, c, sink.Env{Name: "hook", Node: "n"})
}

func TestDeliver_Signed(t *testing.T) {
	r := newReceiver(t)
	s := open(t, &webhook.Config{URL: r.srv.URL, Secret: secret1, Secrets: []string{secret2}, Headers: map[string]string{"Authorization": "Bearer t0ken"}})
	ctx := context.Background()
	recs := records(1, 3)
	for range 2 { // the same records twice: a retry
		if err := s.Deliver(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Deliver(ctx, records(4, 3)); err != nil {
		t.Fatal(err)
	}
	got := r.received()
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3", len(got))
	}
	d := got[0]
	want := `{"events":[` + string(recs[0].Body) + "," + string(recs[1].Body) + "," + string(recs[2].Body) + `]}`
	if string(d.body) != want {
		t.Fatalf("body\n%s\nwant the records as they are\n%s", d.body, want)
	}
	if d.header.Get("Content-Type") != "application/json" || d.header.Get("Authorization") != "Bearer t0ken" {
		t.Fatalf("headers %v", d.header)
	}
	if id := d.header.Get("webhook-id"); id == "" || id != got[1].header.Get("webhook-id") || id == got[2].header.Get("webhook-id") {
		t.Fatalf("webhook-ids %q %q %q: want the same for the same records, another for others", id, got[1].header.Get("webhook-id"), got[2].header.Get("webhook-id"))
	}
	if sigs := strings.Fields(d.header.Get("webhook-signature")); len(sigs) != 2 {
		t.Fatalf("signatures %v, want one per secret", sigs)
	}
	// The rotated-in secret alone verifies it too; another does not.
	if err := webhook.Verify([]string{secret2}, d.header, d.body, time.Minute); err != nil {
		t.Fatalf("the second secret: %v", err)
	}
	other := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	if err := webhook.Verify([]string{other}, d.header, d.body, time.Minute); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("another secret: %v", err)
	}
	if err := webhook.Verify([]string{secret1}, d.header, append([]byte(" "), d.body...), time.Minute); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("a changed body: %v", err)
	}
	old := d.header.Clone()
	old.Set("webhook-timestamp", fmt.Sprint(time.Now().Add(-10*time.Minute).Unix()))
	if err := webhook.Verify([]string{secret1}, old, d.body, 5*time.Minute); !errors.Is(err, webhook.ErrTimestamp) {
		t.Fatalf("an old delivery: %v", err)
	}
	if err := webhook.Verify([]string{secret1}, http.Header{}, d.body, time.Minute); !errors.Is(err, webhook.ErrNoSignature) {
		t.Fatalf("no headers: %v", err)
	}
}

func TestDeliver_Unsigned(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	if err := open(t, &webhook.Config{URL: srv.URL}).Deliver(context.Background(), records(1, 1)); err != nil {
		t.Fatal(err)
	}
	if got.Get("webhook-signature") != "" || got.Get("webhook-id") == "" {
		t.Fatalf("headers %v: want an id and no signature", got)
	}
}

// Each answer maps to delivered, retried (after its Retry-After), refused
// for good, or the sink disabled.
func TestDeliver_Answers(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	for _, tt := range []struct {
		status     int
		header     http.Header
		permanent  bool
		disabled   bool
		retryAfter time.Duration // at least
	}{
		{status: 200},
		{status: 202},
		{status: 500},
		{status: 502},
		{status: 503, header: http.Header{"Retry-After": {"7"}}, retryAfter: 7 * time.Second},
		{status: 429, header: http.Header{"Retry-After": {date}}, retryAfter: 25 * time.Second},
		{status: 408},
		{status: 410, disabled: true},
		{status: 400, permanent: true},
		{status: 404, permanent: true},
		{status: 422, permanent: true},
		{status: 301, header: http.Header{"Location": {"https://elsewhere.example.com/"}}, permanent: true},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			r := newReceiver(t)
			r.script(func([]string) (int, http.Header) { return tt.status, tt.header })
			err := open(t, &webhook.Config{URL: r.srv.URL, Secret: secret1}).Deliver(context.Background(), records(1, 2))
			switch {
			case tt.status < 300:
				if err != nil {
					t.Fatalf("%d: %v, want delivered", tt.status, err)
				}
				return
			case err == nil:
				t.Fatalf("%d: delivered", tt.status)
			}
			if sluice.IsPermanent(err) != tt.permanent || errors.Is(err, sluice.ErrSinkDisabled) != tt.disabled {
				t.Fatalf("%d: %v: permanent %v, disabled %v; want %v, %v", tt.status, err, sluice.IsPermanent(err), errors.Is(err, sluice.ErrSinkDisabled), tt.permanent, tt.disabled)
			}
			if got := sluice.RetryAfterOf(err); got < tt.retryAfter || tt.retryAfter == 0 && got != 0 {
				t.Fatalf("%d: Retry-After %v, want %v", tt.status, got, tt.retryAfter)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("answered %d", tt.status)) {
				t.Fatalf("%d: the error %q does not quote the answer", tt.status, err)
			}
			if tt.status == 301 && !strings.Contains(err.Error(), "elsewhere.example.com") {
				t.Fatalf("the redirect's error %q does not say where to", err)
			}
		})
	}
}

// A receiver that hangs or is gone is retried; a cancelled delivery
// returns at once.
func TestDeliver_Faults(t *testing.T) {
	r := newReceiver(t)
	r.mu.Lock()
	r.hang = make(chan struct{})
	r.mu.Unlock()
	s := open(t, &webhook.Config{URL: r.srv.URL, Secret: secret1, Timeout: 200 * time.Millisecond})
	start := time.Now()
	err := s.Deliver(context.Background(), records(1, 1))
	if err == nil || sluice.IsPermanent(err) || time.Since(start) > 5*time.Second {
		t.Fatalf("a hanging receiver: %v after %v, want a retryable timeout after 200ms", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- open(t, &webhook.Config{URL: r.srv.URL, Timeout: time.Hour}).Deliver(ctx, records(1, 1))
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled delivery succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled delivery did not return")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	err = open(t, &webhook.Config{URL: "http://" + addr + "/hook"}).Deliver(context.Background(), records(1, 1))
	if err == nil || sluice.IsPermanent(err) {
		t.Fatalf("a receiver that is down: %v, want a retryable error", err)
	}
}

func TestConfig_Validate(t *testing.T) {
	err := (&webhook.Config{URL: "ftp://x", Secret: "nope", Secrets: []string{"whsec_!!", "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))},
		Headers: map[string]string{"Webhook-Id": "x"}, Timeout: -1}).Validate()
	for _, want := range []string{"url: \"ftp://x\" is not an http", "secret: a secret starts with whsec_", "secrets[0]: a secret is whsec_ and base64",
		"secrets[1]: a secret's key is 24 to 64 bytes, not 5", `headers: "Webhook-Id" is the sink's own header`, "timeout: must not be negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v; want %q", err, want)
		}
	}
	if err := (&webhook.Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "url: required") {
		t.Errorf("no url: %v", err)
	}
	if err := (&webhook.Config{URL: "https://hooks.example.com/x", Secret: secret1}).Validate(); err != nil {
		t.Errorf("a good configuration: %v", err)
	}
}

// BenchmarkDeliver is batches of 1,000 stored events of about 400 bytes
// to a local receiver that reads each body and checks its signature.
func BenchmarkDeliver(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.Verify([]string{secret1}, r.Header, body, time.Minute) != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	s := open(b, &webhook.Config{URL: srv.URL, Secret: secret1})
	recs := records(1, 1000)
	for i := range recs {
		recs[i].Body = append(recs[i].Body[:len(recs[i].Body)-1], `,"pad":"`+strings.Repeat("x", 250)+`"}`...)
	}
	b.SetBytes(int64(len(webhook.Body(recs))))
	for b.Loop() {
		if err := s.Deliver(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDrain is the sink's sustained delivery from the embedded log,
// in batches of 1,000, to a local receiver that reads each body and checks
// its signature (in this process: its CPU is counted too).
func BenchmarkDrain(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.Verify([]string{secret1}, r.Header, body, time.Minute) != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	sinktest.Drain(b, &webhook.Config{URL: srv.URL, Secret: secret1}, 100_000, sink.Batch{MaxEvents: 1000, MaxBytes: 4 << 20})
}
