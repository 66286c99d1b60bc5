package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/testutil/natstest"
)

const (
	testAdminKey = "sk_admin_end_to_end_0123456789"
	testWriteKey = "sk_write_end_to_end_0123456789"
)

// process is the sluice binary running "serve".
type process struct {
	cmd    *exec.Cmd
	log    *testutil.LogBuffer
	exited chan struct{} // closed once it has exited
	err    error         // how it exited, once exited is closed
	base   string        // its URL
}

// startBinary runs "sluice serve args..." with the test keys and env (and
// no other SLUICE_ variable), and waits until it listens.
func startBinary(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "SLUICE_ADMIN_KEY="+testAdminKey, "SLUICE_WRITE_KEY="+testWriteKey)
	cmd.Env = append(cmd.Env, env...)
	p := &process{cmd: cmd, log: testutil.NewLogBuffer(), exited: make(chan struct{})}
	cmd.Stderr = p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.exited)
		p.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	p.base = testutil.WaitListening(t, p.log, p.exited, 30*time.Second)
	return p
}

// stop sends sig and fails the test unless the process exits 0.
func (p *process) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("sluice did not exit within 30s of %v; its log:\n%s", sig, p.log)
	}
	if p.err != nil {
		t.Fatalf("sluice exited with %v after %v; its log:\n%s", p.err, sig, p.log)
	}
}

func TestServe_Restart(t *testing.T) {
	t.Parallel()

	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		testRestart(t, nil, "--data", t.TempDir())
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		url, schema := testutil.PostgresSchema(t)
		testRestart(t, []string{"SLUICE_STORE=" + url, "SLUICE_POSTGRES_SCHEMA=" + schema}, "--data", t.TempDir())
	})

	t.Run("JetStream", func(t *testing.T) {
		t.Parallel()
		c := natstest.Single(t)
		testRestart(t, []string{"SLUICE_JETSTREAM_NAME=serve"}, "--store", c.URLs())
	})
}

// asyncEvents is how many events testRestart sends with ack=async just
// before SIGTERM: the shutdown must commit those still queued.
const asyncEvents = 20

// testRestart writes events, stops the server with SIGTERM, starts it again
// on the same store, reads the events back and stops it with SIGINT.
func testRestart(t *testing.T, env []string, args ...string) {
	p := startBinary(t, env, args...)
	expectStatus(t, http.StatusOK, "GET", p.base+"/healthz", "", "")
	expectStatus(t, http.StatusOK, "GET", p.base+"/readyz", "", "")
	expectStatus(t, http.StatusOK, "GET", p.base+"/console/", "", "")
	body := expectStatus(t, http.StatusOK, "POST", p.base+"/v1/events", testWriteKey, `{"type":"page.viewed","data":{"a":1}}`)
	var ingested struct {
		Accepted int    `json:"accepted"`
		Position uint64 `json:"position"`
	}
	if err := json.Unmarshal(body, &ingested); err != nil || ingested.Accepted != 1 || ingested.Position != 1 {
		t.Fatalf("ingest answered %s (%v), want 1 accepted at position 1", body, err)
	}
	for range asyncEvents {
		expectStatus(t, http.StatusAccepted, "POST", p.base+"/v1/events?ack=async", testWriteKey, `{"type":"page.left","data":{}}`)
	}
	p.stop(t, syscall.SIGTERM)

	p = startBinary(t, env, args...)
	body = expectStatus(t, http.StatusOK, "GET", p.base+"/v1/events?after=0&limit=100", testAdminKey, "")
	var read struct {
		Events []struct {
			Type     string          `json:"type"`
			Data     json.RawMessage `json:"data"`
			Position uint64          `json:"position"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &read); err != nil {
		t.Fatalf("read answered %s: %v", body, err)
	}
	if len(read.Events) != 1+asyncEvents {
		t.Fatalf("after the restart the log holds %d events, want %d: %s", len(read.Events), 1+asyncEvents, body)
	}
	if e := read.Events[0]; e.Type != "page.viewed" || string(e.Data) != `{"a":1}` || e.Position != 1 {
		t.Fatalf("after the restart the first event is %+v, want the page.viewed event at position 1", e)
	}
	p.stop(t, os.Interrupt)
}

// TestServe_DrainDelay: after SIGTERM, /readyz answers 503 while the
// server still serves, for drain_delay, then the process exits 0 by itself.
func TestServe_DrainDelay(t *testing.T) {
	t.Parallel()
	p := startBinary(t, []string{"SLUICE_DRAIN_DELAY=3s"}, "--data", t.TempDir())
	expectStatus(t, http.StatusOK, "GET", p.base+"/readyz", "", "")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 3*time.Second, func() bool {
		status, _ := call(t, "GET", p.base+"/readyz", "", "")
		return status == http.StatusServiceUnavailable
	}, "/readyz answers 503 after SIGTERM")
	expectStatus(t, http.StatusOK, "POST", p.base+"/v1/events", testWriteKey, `{"type":"late","data":1}`)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("sluice did not exit after its drain delay; its log:\n%s", p.log)
	}
	if p.err != nil {
		t.Fatalf("sluice exited with %v; its log:\n%s", p.err, p.log)
	}
}

// SLUICE_HTTP_ACCESS_LOG_ENABLED alone turns on the access log, every
// request (serve's default sample is 1), in serve's JSON log, with the
// key's name and never its secret.
func TestServe_AccessLog(t *testing.T) {
	t.Parallel()
	const admin = "sk_admin_access_log_0123"
	tm := newTestMain(map[string]string{"SLUICE_ADMIN_KEY": admin, "SLUICE_HTTP_ACCESS_LOG_ENABLED": "true"})
	base, stop := serveInProcess(t, tm, "--listen", "127.0.0.1:0", "--data", t.TempDir())
	expectStatus(t, http.StatusOK, "GET", base+"/v1/events?after=0&key="+admin, admin, "")
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	var found bool
	for line := range strings.Lines(tm.stderr.String()) {
		var rec struct{ Msg, Method, Path, Key string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "request" {
			found = found || rec.Method == "GET" && rec.Path == "/v1/events" && rec.Key == "admin"
		}
	}
	if !found {
		t.Errorf("no access line for GET /v1/events by key admin:\n%s", tm.stderr)
	}
	if strings.Contains(tm.stderr.String(), admin) {
		t.Errorf("the log holds the secret:\n%s", tm.stderr)
	}
}
