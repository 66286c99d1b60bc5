package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The subscriber's events count as delivered when the whole body has
// arrived, not when the headers did.
func TestReceived(t *testing.T) {
	t.Parallel()
	flushed, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"events":[`)
		w.(http.Flusher).Flush()
		close(flushed)
		<-release
		io.WriteString(w, `]}`)
	}))
	defer srv.Close()

	rt := &received{next: http.DefaultTransport}
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{string(b), err}
	}()
	<-flushed
	before := time.Now()
	close(release)
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.body != `{"events":[]}` {
		t.Errorf("body %q, want the whole answer", res.body)
	}
	if rt.at.Before(before) {
		t.Errorf("received at %v, before the body's end was sent at %v", rt.at, before)
	}
}
