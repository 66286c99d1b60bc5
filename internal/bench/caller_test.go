package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The subscriber's events count as delivered when the answer's whole body
// has arrived, not when its headers did; a refusal is an error that says
// what the server answered.
func TestCaller_Fetch(t *testing.T) {
	t.Parallel()
	flushed, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/subscriptions/orders/events", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer k" || r.URL.Query().Get("reader") != "bench" {
			http.Error(w, "who?", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"events":[{"position":7,"type":"a","data":{}},`)
		w.(http.Flusher).Flush()
		close(flushed)
		<-release
		io.WriteString(w, `{"position":8,"type":"a","data":{}}],"position":9,"checkpoint":6}`)
	})
	mux.HandleFunc("GET /v1/subscriptions/busy/events", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"code":"subscription_busy"}`, http.StatusConflict)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	in := &caller{cfg: SubscribeConfig{URL: srv.URL, Key: "k"}, client: srv.Client()}

	type result struct {
		b   positions
		at  time.Time
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, at, err := in.fetch(context.Background(), "orders")
		done <- result{b, at, err}
	}()
	<-flushed
	before := time.Now()
	close(release)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if len(res.b.Events) != 2 || res.b.Events[0].Position != 7 || res.b.Events[1].Position != 8 || res.b.Position != 9 || res.b.Checkpoint != 6 {
		t.Errorf("batch %+v, want events 7 and 8, position 9, checkpoint 6", res.b)
	}
	if res.at.Before(before) {
		t.Errorf("received at %v, before the body's end was sent at %v", res.at, before)
	}

	if _, _, err := in.fetch(context.Background(), "busy"); err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "subscription_busy") {
		t.Errorf("fetch of a busy subscription: %v, want the 409 and its body", err)
	}
}
