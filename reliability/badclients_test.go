package reliability

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

const (
	// badRSSLimit bounds the server's peak resident memory while bad
	// clients are at it: the project's memory target.
	badRSSLimit = 256 << 20
	// badAnswerLimit bounds the time to answer one bad request.
	badAnswerLimit = 2 * time.Second
	// normalP99Limit bounds the p99 of a normal client's durable single
	// events meanwhile.
	normalP99Limit = 100 * time.Millisecond
)

// TestBadClients: slowloris connections, bodies that stop half way,
// invalid UTF-8, deep nesting, huge numbers and a gzip bomb, against one
// server (embedded store). Each gets a bounded answer (or a closed
// connection), the server's memory stays under badRSSLimit, and a normal
// client sending durable events all the while is answered 200 with a p99
// under normalP99Limit.
func TestBadClients(t *testing.T) {
	var env []string
	if v := os.Getenv("SLUICE_RELIABILITY_BODY_BUDGET"); v != "" { // to compare settings
		env = append(env, "SLUICE_HTTP_LIMITS_BODY_BUDGET_BYTES="+v)
	}
	s := startServer(t, env, "--data", t.TempDir())
	o := newOracle()
	normal := &loader{base: s.base, typ: "normal", conns: 2, maxBatch: 1, padBytes: 64, oracle: o, start: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	go func() { defer close(loaded); normal.run(ctx) }()
	defer func() { cancel(); <-loaded }()

	// attack runs fn as a bad client and checks the normal client and the
	// server's memory meanwhile.
	attack := func(name string, fn func(t *testing.T, r *result)) {
		t.Run(name, func(t *testing.T) {
			r := report(t, "bad/"+name)
			s.resetPeak()
			from := time.Since(normal.start)
			fn(t, r)
			// A bad client may be done in a millisecond, before any normal
			// request fits in its window: the window lasts at least until a
			// normal request sent since it began has been answered.
			to := time.Since(normal.start)
			testutil.Eventually(t, 5*time.Second, func() bool {
				normal.mu.Lock()
				defer normal.mu.Unlock()
				for _, sm := range normal.samples {
					if sm.when-sm.took >= from {
						to = max(to, sm.when)
						return true
					}
				}
				return false
			}, "the normal client got no answer after the bad client")
			var took []time.Duration
			failed := 0
			normal.mu.Lock()
			for _, sm := range normal.samples {
				if sm.when-sm.took >= from && sm.when <= to {
					took = append(took, sm.took)
					if sm.status != http.StatusOK {
						failed++
					}
				}
			}
			normal.mu.Unlock()
			p99 := percentile(took, 99)
			peak := s.peakRSS()
			r.add(t, "normal_requests", len(took))
			r.add(t, "normal_failed", failed)
			r.add(t, "normal_p99", p99)
			r.add(t, "peak_rss", mib(peak))
			if len(took) == 0 || failed > 0 {
				t.Errorf("the normal client had %d requests, %d failed, meanwhile", len(took), failed)
			}
			if p99 > normalP99Limit {
				t.Errorf("the normal client's p99 was %s meanwhile, want at most %s", p99, normalP99Limit)
			}
			if peak > badRSSLimit {
				t.Errorf("the server's peak RSS is %s, want under %s", mib(peak), mib(badRSSLimit))
			}
		})
	}

	attack("slowloris", func(t *testing.T, r *result) { slowloris(t, r, s) })
	attack("half_bodies", func(t *testing.T, r *result) { halfBodies(t, r, s) })
	attack("slow_bodies", func(t *testing.T, r *result) { slowBodies(t, r, s) })
	attack("invalid_utf8", func(t *testing.T, r *result) {
		for _, body := range []string{
			`{"type":"utf8.bad","data":"a` + "\xff\xfe" + `b"}`,
			`{"type":"utf8.bad","data":{"k` + "\xc3" + `":1}}`,
			`{"type":"utf8` + "\xff" + `bad","data":1}`,
			`{"type":"utf8.bad","stream":"s` + "\xed\xa0\x80" + `","data":1}`,
		} {
			expectRefused(t, r, s, body, "", http.StatusBadRequest)
		}
		if n := len(readLog(t, s.base, typeFilter("utf8.bad"))); n > 0 {
			t.Errorf("%d events with invalid UTF-8 were stored", n)
		}
	})
	attack("deep_nesting", func(t *testing.T, r *result) {
		const depth = 100_000
		expectRefused(t, r, s, strings.Repeat("[", depth)+strings.Repeat("]", depth), "", http.StatusBadRequest)
		expectRefused(t, r, s, `{"type":"deep","data":`+strings.Repeat(`{"a":`, depth)+"1"+strings.Repeat("}", depth)+"}", "", http.StatusBadRequest)
	})
	attack("huge_numbers", func(t *testing.T, r *result) {
		// Stored as given: the log keeps data byte for byte, bounded by
		// the event's size; a schema refuses such numbers
		// (schema/numbers.go).
		for _, n := range []string{"1" + strings.Repeat("0", 1_000_000), "1e999999999", "-0." + strings.Repeat("9", 500_000) + "E-999999999"} {
			body := fmt.Sprintf(`{"type":"huge","data":%s}`, n)
			a := do(context.Background(), newClient(1, 30*time.Second), "POST", ingestURL(s.base), writeKey, []byte(body))
			if a.err != nil || a.status != http.StatusOK || a.took > badAnswerLimit {
				t.Errorf("a %d-byte number: %d %v in %s, want 200 within %s: %.300s", len(n), a.status, a.err, a.took, badAnswerLimit, a.body)
			}
		}
		evs := readLog(t, s.base, typeFilter("huge"))
		if len(evs) != 3 || len(evs[0].Data) != 1_000_001 || string(evs[1].Data) != "1e999999999" {
			t.Errorf("huge numbers: %d events stored, want the 3 sent as given", len(evs))
		}
		r.add(t, "stored", len(evs))
	})
	attack("gzip_bomb", func(t *testing.T, r *result) {
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
		zeros := make([]byte, 1<<20)
		for range 1024 { // 1 GiB of zeros
			_, _ = zw.Write(zeros)
		}
		_ = zw.Close()
		r.add(t, "compressed", mib(int64(zb.Len())))
		r.add(t, "decompressed", "1GiB")
		expectRefused(t, r, s, zb.String(), "gzip", http.StatusRequestEntityTooLarge)
	})

	cancel()
	<-loaded
	if v := o.check(t, readLog(t, s.base, typeFilter("normal"))); v.missing > 0 {
		t.Errorf("the normal client's acknowledged events: %d missing", v.missing)
	}
}

// expectRefused sends body (with Content-Encoding enc) and checks that it
// is refused with status and a code, within badAnswerLimit.
func expectRefused(t *testing.T, r *result, s *server, body, enc string, status int) {
	t.Helper()
	req, _ := http.NewRequest("POST", ingestURL(s.base), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+writeKey)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	start := time.Now()
	resp, err := newClient(1, 30*time.Second).Do(req)
	if err != nil {
		t.Errorf("%.40q…: %v", body, err)
		return
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	a := answer{status: resp.StatusCode, body: b}
	r.add(t, "answer", fmt.Sprintf("%d/%s/%s", a.status, a.code(), roundDuration(took)))
	if a.status != status || a.code() == "" || took > badAnswerLimit {
		t.Errorf("%.40q…: %d %q in %s, want %d with a code within %s: %.300s", body, a.status, a.code(), took, status, badAnswerLimit, b)
	}
}

// slowloris opens connections that send their headers a byte a second:
// the server must close them by its ReadHeaderTimeout (10 s), while
// others are served.
func slowloris(t *testing.T, r *result, s *server) {
	const conns = 200
	addr := strings.TrimPrefix(s.base, "http://")
	closedAfter := make(chan time.Duration, conns)
	var wg sync.WaitGroup
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		opened := time.Now()
		if _, err := io.WriteString(c, "POST /v1/events HTTP/1.1\r\nHost: sluice\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { // a byte a second until the server closes
			for {
				time.Sleep(time.Second) // paces the sender
				if _, err := c.Write([]byte("a")); err != nil {
					return
				}
			}
		})
		wg.Go(func() {
			_, _ = io.Copy(io.Discard, c) // until the server closes
			closedAfter <- time.Since(opened)
			c.Close()
		})
	}
	var last time.Duration
	deadline := time.After(30 * time.Second)
	for range conns {
		select {
		case d := <-closedAfter:
			last = max(last, d)
		case <-deadline:
			t.Fatalf("the server had not closed every slowloris connection after 30s")
		}
	}
	wg.Wait()
	r.add(t, "conns", conns)
	r.add(t, "closed_within", last)
	if last > 11*time.Second {
		t.Errorf("the last slowloris connection was closed after %s, want within 11s (ReadHeaderTimeout 10s)", last)
	}
}

// halfBodies sends requests that announce a 10 MiB body and send 1 KiB of
// it: half the clients then close, half stall for 3 s. Nothing of them may
// be stored.
func halfBodies(t *testing.T, r *result, s *server) {
	const conns = 200
	addr := strings.TrimPrefix(s.base, "http://")
	var wg sync.WaitGroup
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		head := fmt.Sprintf("POST /v1/events HTTP/1.1\r\nHost: sluice\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", writeKey, 10<<20)
		part := fmt.Sprintf(`{"id":"half-%d","type":"half.body","data":"%s`, i, strings.Repeat("x", 1024))
		if _, err := io.WriteString(c, head+part); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer c.Close()
			if i%2 == 0 {
				return // closes half way
			}
			time.Sleep(3 * time.Second) // stalls
		})
	}
	wg.Wait()
	r.add(t, "conns", conns)
	if n := len(readLog(t, s.base, typeFilter("half.body"))); n > 0 {
		t.Errorf("%d events of bodies cut half way were stored", n)
	}
}

// slowBodies sends, from 200 connections at once, a valid batch of almost
// 10 MiB each (the largest body allowed), 64 KiB every 50 ms (about
// 1.3 MB/s: 8 s a body). The budget of bodies being read (64 MiB) takes a
// few; the others wait limits.body_wait (1 s) and are answered 503 busy
// with Retry-After. Each client sends once; every one answered 200 has all
// its events stored, in a stream of its own.
func slowBodies(t *testing.T, r *result, s *server) {
	const (
		conns  = 200
		events = 9000
		step   = 64 << 10
		pace   = 50 * time.Millisecond // between steps
	)
	addr := strings.TrimPrefix(s.base, "http://")
	event := func(i int) string {
		return fmt.Sprintf(`{"type":"slow.body","stream":"slow-%03d","data":"%s"}`, i, strings.Repeat("x", 1100))
	}
	length := 2 + events*len(event(0)) + events - 1
	if length > 10<<20 {
		t.Fatalf("a body of %d bytes is over the 10 MiB limit", length)
	}
	type outcome struct {
		status int
		code   string
		retry  string
		err    error
	}
	outcomes := make(chan outcome, conns)
	var wg sync.WaitGroup
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		answered := make(chan struct{})
		wg.Go(func() { // the answer, which may come before the body is sent
			defer close(answered)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				outcomes <- outcome{err: err}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var p struct{ Code string }
			_ = json.Unmarshal(b, &p)
			outcomes <- outcome{status: resp.StatusCode, code: p.Code, retry: resp.Header.Get("Retry-After")}
		})
		wg.Go(func() { // the request, slowly, until it is sent or answered
			defer c.Close()
			w := bufio.NewWriterSize(&pacedWriter{w: c, pace: pace, stop: answered}, step)
			fmt.Fprintf(w, "POST /v1/events HTTP/1.1\r\nHost: sluice\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n[", writeKey, length)
			e := event(i)
			for n := range events {
				if n > 0 {
					w.WriteByte(',')
				}
				if _, err := w.WriteString(e); err != nil {
					break // answered already, or the server stopped reading
				}
			}
			w.WriteByte(']')
			w.Flush()
			<-answered
		})
	}
	wg.Wait()
	close(outcomes)
	var served, busy, other int
	for o := range outcomes {
		switch {
		case o.status == http.StatusOK:
			served++
		case o.status == http.StatusServiceUnavailable && o.code == "busy" && o.retry != "":
			busy++
		default:
			other++
			if other <= 5 {
				t.Errorf("a slow body: %d %q Retry-After %q, %v; want 200, or 503 busy with Retry-After", o.status, o.code, o.retry, o.err)
			}
		}
	}
	r.add(t, "conns", conns)
	r.add(t, "body", mib(int64(length)))
	r.add(t, "served", served)
	r.add(t, "busy", busy)
	r.add(t, "other", other)
	if served == 0 {
		t.Errorf("none of the %d slow bodies was served", conns)
	}
	a := do(context.Background(), newClient(1, 10*time.Second), "GET", s.base+"/v1/streams?prefix=slow-&limit=1000", adminKey, nil)
	var page struct {
		Streams []struct {
			Stream  string `json:"stream"`
			Version int    `json:"version"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(a.body, &page); err != nil || a.status != http.StatusOK {
		t.Fatalf("GET /v1/streams: %d %v: %.300s", a.status, err, a.body)
	}
	if len(page.Streams) != served {
		t.Errorf("%d streams of slow bodies stored, want the %d served", len(page.Streams), served)
	}
	for _, st := range page.Streams {
		if st.Version != events {
			t.Errorf("stream %s has %d events, want %d", st.Stream, st.Version, events)
		}
	}
}

// pacedWriter writes to w and then waits pace, or fails once stop is
// closed.
type pacedWriter struct {
	w    io.Writer
	pace time.Duration
	stop <-chan struct{}
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil {
		return n, err
	}
	select {
	case <-p.stop:
		return n, errors.New("answered")
	case <-time.After(p.pace): // paces the sender
		return n, nil
	}
}
