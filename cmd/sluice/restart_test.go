package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/internal/testutil"
)

const (
	restartAdminKey = "sk_admin_restart_0123456789abcdef"
	restartWriteKey = "sk_write_restart_0123456789abcdef"
)

// restartable is the real binary serving, restarted by SIGHUP: its
// successors write to the same log, and the pid file says which process
// serves.
type restartable struct {
	*testutil.Sluice
	data     string
	restarts int
}

// startRestartable starts the binary on data dir data with the test keys
// and env; the test's end stops whichever process then serves.
func startRestartable(t *testing.T, data string, env []string, args ...string) *restartable {
	t.Helper()
	// Admission by queue delay (100ms by default) refuses requests with 503
	// when commits slow down, as PostgreSQL's do on this machine while the
	// other packages' tests run: these tests are about restarts, so it
	// refuses only after 5s.
	env = append([]string{"SLUICE_ADMIN_KEY=" + restartAdminKey, "SLUICE_WRITE_KEY=" + restartWriteKey, "SLUICE_WRITER_MAX_QUEUE_DELAY=5s"}, env...)
	s := testutil.StartSluice(t, binary, env, append([]string{"--data", data}, args...)...)
	r := &restartable{Sluice: s, data: data}
	testutil.Eventually(t, 10*time.Second, func() bool { _, err := readPID(r.pidFile()); return err == nil }, "the pid file is written")
	t.Cleanup(func() { // before StartSluice's Kill, which waits for every successor to close the log
		if pid, err := readPID(r.pidFile()); err == nil {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		select {
		case <-s.Exited:
		case <-time.After(30 * time.Second):
			t.Errorf("the serving process did not exit within 30s of SIGTERM; the log:\n%s", s.Log)
		}
	})
	return r
}

func (r *restartable) pidFile() string { return filepath.Join(r.data, pidFileName) }

// signal sends SIGHUP to the serving process and returns its pid.
func (r *restartable) signal(t *testing.T) int {
	t.Helper()
	pid, err := readPID(r.pidFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	return pid
}

// awaitRestart waits until the process that served has stopped and its
// successor listens.
func (r *restartable) awaitRestart(t *testing.T, old int) {
	t.Helper()
	r.restarts++
	testutil.Eventually(t, 60*time.Second, func() bool {
		pid, err := readPID(r.pidFile())
		return err == nil && pid != old && len(logLines(r.Log.String(), "stopped")) == r.restarts &&
			len(logLines(r.Log.String(), "listening")) == r.restarts+1
	}, fmt.Sprintf("restart %d: the old process stops and the new one listens; the log:\n%s", r.restarts, r.Log))
}

// logLine is one line of the JSON log.
type logLine struct {
	Time  time.Time `json:"time"`
	Msg   string    `json:"msg"`
	Pause string    `json:"pause"`
	Err   string    `json:"err"`
}

// logLines returns the lines of log whose message is msg.
func logLines(log, msg string) []logLine {
	var out []logLine
	for line := range strings.Lines(log) {
		var l logLine
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == msg {
			out = append(out, l)
		}
	}
	return out
}

// countEvents reads the whole log through the API and returns the number
// of events in it.
func countEvents(t *testing.T, base string) int {
	t.Helper()
	n, after := 0, uint64(0)
	for {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/events?after=%d&limit=1000", base, after), nil)
		req.Header.Set("Authorization", "Bearer "+restartAdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Events    []json.RawMessage `json:"events"`
			NextAfter uint64            `json:"next_after"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("read the log after %d: status %d, %v", after, resp.StatusCode, err)
		}
		if len(page.Events) == 0 {
			return n
		}
		n += len(page.Events)
		after = page.NextAfter
	}
}

// benchLoad runs the bench load generator (what "sluice bench --rate" runs) at
// rate requests/s against base for d.
func benchLoad(base string, rate float64, d time.Duration) (chan bench.Result, chan error) {
	results, errs := make(chan bench.Result, 1), make(chan error, 1)
	go func() {
		res, err := bench.Run(context.Background(), bench.Config{
			URL: base + "/v1/events", Key: restartWriteKey, Rate: rate, Connections: 32, Duration: d,
		})
		results <- res
		errs <- err
	}()
	return results, errs
}

// checkLoad fails the test unless every request of res was accepted,
// showing the warnings, errors and failed requests of the servers' logs.
func checkLoad(t *testing.T, res bench.Result, logs ...*testutil.LogBuffer) {
	t.Helper()
	if res.Errors() > 0 || res.Requests == 0 {
		var lines []string
		for _, l := range logs {
			for line := range strings.Lines(l.String()) {
				if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"status":5`) {
					lines = append(lines, line)
				}
			}
		}
		t.Errorf("load: %d requests, answers by status %v (0: refused or reset): want every one 2xx; the servers' warnings, errors and failed requests:\n%s",
			res.Requests, res.Status, strings.Join(lines, ""))
	}
	t.Logf("load: %d requests, %.0f/s, latency p50 %s p99 %s max %s", res.Requests, res.RequestsPerSec,
		res.Latency.P50, res.Latency.P99, res.Latency.Max)
}

// TestRestart_UnderLoad restarts the real binary five times by SIGHUP
// while the bench load generator sends a steady rate of durable requests:
// no connection is refused, every request is answered 2xx, and every
// acknowledged event is in the log afterwards.
func TestRestart_UnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) []string
	}{
		{"Embedded", func(*testing.T) []string { return nil }},
		{"Postgres", func(t *testing.T) []string {
			url, schema := testutil.PostgresSchema(t)
			return []string{"SLUICE_STORE=" + url, "SLUICE_POSTGRES_SCHEMA=" + schema}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRestartable(t, t.TempDir(), tc.env(t))
			const restarts, every = 5, 1500 * time.Millisecond
			results, errs := benchLoad(r.Base, 500, restarts*every+2*time.Second)
			tick := time.NewTicker(every)
			defer tick.Stop()
			begin := time.Now()
			for range restarts {
				<-tick.C
				r.awaitRestart(t, r.signal(t))
			}
			if took := time.Since(begin); took > restarts*every+time.Second {
				t.Fatalf("the restarts took %s, longer than the load: raise its duration", took)
			}
			res, err := <-results, <-errs
			if err != nil {
				t.Fatal(err)
			}
			checkLoad(t, res, r.Log)
			if got := countEvents(t, r.Base); got != res.Events {
				t.Errorf("the log holds %d events; %d were acknowledged", got, res.Events)
			}
			for _, l := range logLines(r.Log.String(), "store taken over") {
				t.Logf("store taken over: pause %s", l.Pause)
			}
		})
	}
}

// TestRestart_RollingOnPostgres tells two nodes sharing a PostgreSQL schema
// to restart at the same moment: they restart one after the other (the
// second takes the restart lock after the first has released it), and the
// load sent to both is answered throughout.
func TestRestart_RollingOnPostgres(t *testing.T) {
	url, schema := testutil.PostgresSchema(t)
	env := []string{"SLUICE_STORE=" + url, "SLUICE_POSTGRES_SCHEMA=" + schema}
	nodes := []*restartable{startRestartable(t, t.TempDir(), env), startRestartable(t, t.TempDir(), env)}
	var loads []chan bench.Result
	var loadErrs []chan error
	for _, n := range nodes {
		res, errs := benchLoad(n.Base, 250, 6*time.Second)
		loads, loadErrs = append(loads, res), append(loadErrs, errs)
	}
	var wg sync.WaitGroup
	for _, n := range nodes {
		old := n.signal(t)
		wg.Go(func() { n.awaitRestart(t, old) })
	}
	wg.Wait()
	type span struct{ taken, released time.Time }
	var spans []span
	for i, n := range nodes {
		taken, released := logLines(n.Log.String(), "restart lock taken"), logLines(n.Log.String(), "releasing the restart lock")
		if len(taken) != 1 || len(released) != 1 {
			t.Fatalf("node %d: %d lines 'restart lock taken', %d 'releasing the restart lock', want 1 each; its log:\n%s", i, len(taken), len(released), n.Log)
		}
		spans = append(spans, span{taken[0].Time, released[0].Time})
	}
	first, second := spans[0], spans[1]
	if second.taken.Before(first.taken) {
		first, second = second, first
	}
	if second.taken.Before(first.released) {
		t.Errorf("the second node took the restart lock at %s, before the first released it at %s", second.taken, first.released)
	}
	t.Logf("first node held the lock %s; the second took it %s after its release", first.released.Sub(first.taken), second.taken.Sub(first.released))
	total := 0
	for i := range nodes {
		res, err := <-loads[i], <-loadErrs[i]
		if err != nil {
			t.Fatal(err)
		}
		checkLoad(t, res, nodes[0].Log, nodes[1].Log)
		total += res.Events
	}
	if got := countEvents(t, nodes[0].Base); got != total {
		t.Errorf("the log holds %d events; %d were acknowledged", got, total)
	}
}

// TestRestart_SuccessorFails restarts with a configuration file that has
// become invalid: the new process exits, and the old one logs why and
// keeps serving.
func TestRestart_SuccessorFails(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(config, []byte("shutdown_timeout: 10s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRestartable(t, filepath.Join(dir, "data"), nil, "--config", config)
	if err := os.WriteFile(config, []byte("shutdown_timeout: 10s\nno_such_field: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := r.signal(t)
	testutil.Eventually(t, 30*time.Second, func() bool { return len(logLines(r.Log.String(), "restart failed; this process keeps serving")) == 1 },
		"the old process logs that the restart failed")
	failed := logLines(r.Log.String(), "restart failed; this process keeps serving")[0]
	t.Logf("restart failed: %s", failed.Err)
	if !strings.Contains(r.Log.String(), "no_such_field") {
		t.Errorf("the log does not say what is wrong with the configuration:\n%s", r.Log)
	}
	if pid, err := readPID(r.pidFile()); err != nil || pid != old {
		t.Errorf("pid file: %d, %v; want the old process %d", pid, err, old)
	}
	results, errs := benchLoad(r.Base, 100, time.Second)
	res, err := <-results, <-errs
	if err != nil {
		t.Fatal(err)
	}
	checkLoad(t, res, r.Log)

	// Fixed, the next restart goes through.
	if err := os.WriteFile(config, []byte("shutdown_timeout: 10s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.awaitRestart(t, r.signal(t))
}
