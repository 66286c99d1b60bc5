package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/sqlite"
)

// sseMessage is one message of a live tail: an event, or a heartbeat.
type sseMessage struct {
	id        string
	event     sluice.Event
	heartbeat bool
}

// openLive connects to the live tail with the extra header (may be nil)
// and returns its messages as they come.
func openLive(t *testing.T, h *harness, query string, header map[string]string) <-chan sseMessage {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", h.url+"/v1/events/live"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+readKey)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("live tail: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	messages := make(chan sseMessage, 100)
	go func() {
		defer resp.Body.Close()
		defer close(messages)
		sc := bufio.NewScanner(resp.Body)
		var m sseMessage
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, ": heartbeat"):
				messages <- sseMessage{heartbeat: true}
			case strings.HasPrefix(line, "id: "):
				m.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m.event); err != nil {
					t.Errorf("data line %q: %v", line, err)
				}
			case line == "" && m.id != "":
				messages <- m
				m = sseMessage{}
			}
		}
	}()
	return messages
}

// next returns the next event of the tail, skipping heartbeats, or fails
// after a deadline.
func next(t *testing.T, messages <-chan sseMessage) sseMessage {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-messages:
			if !ok {
				t.Fatal("the live tail ended")
			}
			if !m.heartbeat {
				return m
			}
		case <-deadline:
			t.Fatal("no event on the live tail within 5s")
		}
	}
}

func TestLive(t *testing.T) {
	backends.Run(t, func(t *testing.T, open backends.Open) {
		cfg := testConfig()
		cfg.LiveHeartbeat = 50 * time.Millisecond
		h := newHarness(t, open(t), cfg)
		for _, typ := range []string{"a", "b", "a"} {
			h.want(post("/v1/events", writeKey, `{"type":"`+typ+`","data":{"t":"`+typ+`"}}`), 200, nil)
		}

		t.Run("CatchUpThenLiveFiltered", func(t *testing.T) {
			tail := openLive(t, h, "?type=a", nil)
			for _, want := range []string{"1", "3"} {
				if m := next(t, tail); m.id != want || m.event.Type != "a" || string(m.event.Data) != `{"t":"a"}` {
					t.Fatalf("got id %s %+v, want event %s of type a", m.id, m.event, want)
				}
			}
			h.want(post("/v1/events", writeKey, `{"type":"b","data":{}}`), 200, nil)
			h.want(post("/v1/events", writeKey, `{"type":"a","data":{"live":true}}`), 200, nil)
			if m := next(t, tail); m.id != "5" || string(m.event.Data) != `{"live":true}` {
				t.Fatalf("live: got id %s %+v, want event 5", m.id, m.event)
			}
		})
		t.Run("ResumeFromLastEventID", func(t *testing.T) {
			tail := openLive(t, h, "?after=1", map[string]string{"Last-Event-ID": "3"})
			if m := next(t, tail); m.id != "4" {
				t.Fatalf("resumed at id %s, want 4 (Last-Event-ID wins over after=)", m.id)
			}
		})
		t.Run("Heartbeat", func(t *testing.T) {
			tail := openLive(t, h, "?type=nothing", nil)
			select {
			case m := <-tail:
				if !m.heartbeat {
					t.Fatalf("got %+v, want a heartbeat", m)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no heartbeat within 5s with a heartbeat of 50ms")
			}
		})
		t.Run("BadLastEventID", func(t *testing.T) {
			var p problem
			h.want(request{method: "GET", path: "/v1/events/live", key: readKey, header: map[string]string{"Last-Event-ID": "x"}}, 400, &p)
			if p.Code != "invalid_parameter" {
				t.Fatalf("code %s", p.Code)
			}
			h.want(get("/v1/events/live", writeKey), 403, nil)
		})
	})
}

// TestLive_StalledClient: a client that reads nothing is dropped once the
// server's writes to it stall for live_stall, instead of events piling up
// for it; ingest meanwhile is not slowed.
func TestLive_StalledClient(t *testing.T) {
	cfg := testConfig()
	cfg.LiveStall = 200 * time.Millisecond
	store, err := sqlite.Open(context.Background(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := newHarness(t, store, cfg)
	// A receive buffer of its own, set before connecting: loopback's may
	// grow to 32 MB and hold everything the test stores.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 256<<10)
		})
		return errors.Join(err, serr)
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/events/live HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", readKey)

	// Far more than the sockets' buffers hold (256 KiB here, 4 MiB at most
	// on the server's side), while the client reads nothing.
	data := `{"pad":"` + strings.Repeat("x", 4000) + `"}`
	batch := "[" + strings.TrimSuffix(strings.Repeat(`{"type":"big","data":`+data+`},`, 100), ",") + "]"
	for range 60 {
		start := time.Now()
		h.want(post("/v1/events", writeKey, batch), 200, nil)
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("an ingest took %s while a live client stalled", took)
		}
	}
	// The client stays stalled well past live_stall: the stall is the
	// scenario, not a wait for something to happen.
	time.Sleep(5 * cfg.LiveStall)
	// The server has given up on the client: reading now reaches the end
	// of what it sent before dropping it, well short of the 24 MB stored.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	if err != nil {
		t.Fatalf("after %d bytes: %v; want the server to have closed the connection", n, err)
	}
	if n >= 60*100*4000 {
		t.Fatalf("the stalled client got all %d bytes: it was not dropped", n)
	}
}
