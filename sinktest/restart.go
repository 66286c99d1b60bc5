package sinktest

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/internal/testutil"
)

// The binary is built once per test process, for every sink's restart
// test.
var binary struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the sluice command built for this test process (once,
// for the suite's restart test and a sink's own tests of the binary).
func Binary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		// Removed with the system's temporary files: tests of several
		// packages each build their own.
		binary.path, _, binary.err = testutil.BuildSluice("github.com/sluicehq/sluice/cmd/sluice")
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

const restartKey = "sk_admin_sinktest_0123456789"

// testRestart: the real binary delivers to the destination; SIGKILLed
// while batches are in flight and started again on its data, it delivers
// every event: nothing lost.
func testRestart(t *testing.T, h Harness, _ Features) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	entry := maps.Clone(h.Fields)
	entry["name"] = sinkName
	entry["batch"] = map[string]any{"max_events": 5}
	if h.Linger > 0 {
		entry["batch"] = map[string]any{"max_events": 5, "linger": h.Linger.String()}
	}
	entry["retry"] = map[string]any{"max_attempts": 1000, "max_age": "1h", "initial_backoff": "5ms", "max_backoff": "50ms"}
	s := StartBinary(t, dir, restartKey, entry)
	c := client.New(s.Base, client.WithKey(restartKey))
	ctx := context.Background()
	// Paused while the events are ingested, then killed once deliveries
	// are under way, long before they are done.
	control := s.Base + "/v1/sinks/" + sinkName + "/"
	Call(t, restartKey, http.MethodPost, control+"pause", nil)
	evs := events("restart", 0, 1500)
	for i := 0; i < len(evs); i += 50 {
		if _, err := c.Ingest(ctx, evs[i:i+50]); err != nil {
			t.Fatalf("ingest: %v", err)
		}
	}
	Call(t, restartKey, http.MethodPost, control+"resume", nil)
	testutil.Eventually(t, deadline, func() bool { return len(h.Received(t)) >= 50 }, "the binary delivered nothing")
	s.Kill()
	before := len(received(t, h))
	if before >= len(evs) {
		t.Logf("all %d events were delivered before the kill; the restart had nothing left", len(evs))
	}
	start := time.Now()
	s = StartBinary(t, dir, restartKey, entry)
	gs := waitReceived(t, h, ids(evs))
	dups := len(gs) - len(evs)
	t.Logf("killed after %d deliveries; after the restart every event arrived within %v, %d duplicates", before, time.Since(start).Round(time.Millisecond), dups)
	s.Stop(t)
}

// StartBinary runs the sluice command (Binary) with one sinks: entry,
// entry, its configuration file and its data in dir and key as its admin
// key, until the test ends. Started again on the same dir, it resumes from
// the data left there.
func StartBinary(t *testing.T, dir, key string, entry map[string]any) *testutil.Sluice {
	t.Helper()
	cfg, err := yaml.Marshal(map[string]any{"sinks": []any{entry}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return testutil.StartSluice(t, Binary(t), []string{"SLUICE_ADMIN_KEY=" + key}, "--data", filepath.Join(dir, "data"), "--config", path)
}

// Call sends a request with no body to the binary's API at url, with key,
// fails the test unless it answers 200 OK, and decodes the answer's JSON
// into out unless out is nil.
func Call(t testing.TB, key, method, url string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}
