package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/internal/testutil"
)

// runBinary runs the sluice binary with args and no SLUICE_ variable but
// env, and returns its standard output; it fails the test unless it exits 0.
func runBinary(t *testing.T, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(binary, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice %s: %v; stderr:\n%s\nstdout:\n%s", strings.Join(args, " "), err, &stderr, &stdout)
	}
	return stdout.Bytes()
}

func TestBench_Spawn(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, out []byte) {
		t.Helper()
		var res bench.Result
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("the output is not a JSON result: %v\n%s", err, out)
		}
		if res.Requests == 0 || res.Status[0] != 0 || res.Errors() != 0 || res.EventsPerSec <= 0 {
			t.Fatalf("result %+v: want requests, all accepted, no transport error", res)
		}
		if res.Server == nil || res.Server.CPUSeconds <= 0 || res.Server.PeakRSSBytes <= 0 {
			t.Fatalf("server stats %+v, want CPU seconds and peak RSS", res.Server)
		}
	}

	t.Run("Embedded", func(t *testing.T) {
		t.Parallel()
		check(t, runBinary(t, nil, "bench", "--spawn", "--duration", "2s", "--json", "--data-dir", t.TempDir()))
	})
	t.Run("Subscribe", func(t *testing.T) {
		t.Parallel()
		out := runBinary(t, nil, "bench", "subscribe", "--spawn", "--duration", "1s", "--rate", "200", "--json", "--data-dir", t.TempDir())
		var res bench.SubscribeResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("the output is not a JSON result: %v\n%s", err, out)
		}
		if res.Events == 0 || res.Delivered != res.Events || res.Server == nil {
			t.Fatalf("result %+v: want every ingested event delivered, and server stats", res)
		}
	})
	t.Run("PostgreSQLWithSchema", func(t *testing.T) {
		t.Parallel()
		url := testutil.PostgresURL(t)
		check(t, runBinary(t, nil, "bench", "--spawn", "--store", url, "--duration", "2s", "--batch", "50", "--schema", "--kind", "mixed", "--connections", "8", "--json"))
	})
}

// TestBench_Report: the report for people, against a server this test
// runs, with the key from SLUICE_BENCH_KEY and invalid events that the
// registered schema refuses.
func TestBench_Report(t *testing.T) {
	t.Parallel()
	p := startBinary(t, nil, "--data", t.TempDir())
	out := string(runBinary(t, []string{"SLUICE_BENCH_KEY=" + testWriteKey, "SLUICE_BENCH_ADMIN_KEY=" + testAdminKey},
		"bench", "--url", p.base+"/v1/events", "--events", "40", "--connections", "4", "--kind", "order", "--invalid", "0.5", "--schema"))
	for _, want := range []string{"40 sent", "200: 20", "400: 20", "p99"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report does not say %q:\n%s", want, out)
		}
	}
}

func TestBench_Suite(t *testing.T) {
	t.Parallel()
	args := []string{"bench", "suite", "--duration", "300ms", "--connections", "8", "--data-dir", t.TempDir()}
	if url := os.Getenv(testutil.PostgresEnv); url != "" {
		args = append(args, "--postgres", url)
	}
	out := string(runBinary(t, nil, args...))
	for _, want := range []string{"| scenario |", baseBareSingle, baseDurableSingle, baseDurableBatch, "embedded, batches of 500, durable, schema", "with the schema over without"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table does not have %q:\n%s", want, out)
		}
	}
	if os.Getenv(testutil.PostgresEnv) != "" && !strings.Contains(out, baseCopy) {
		t.Errorf("the table has no COPY baseline:\n%s", out)
	}
}

func TestBench_Usage(t *testing.T) {
	t.Parallel()
	runCases(t, []runCase{
		{"Help", []string{"help", "bench"}, 0, "--spawn", ""},
		{"DashHelp", []string{"bench", "--help"}, 0, "bench suite", ""},
		{"BadKind", []string{"bench", "--kind", "frob"}, 2, "", `kind: "frob"`},
		{"URLAndSpawn", []string{"bench", "--spawn", "--url", "http://x/"}, 2, "", "--url and --spawn"},
		{"StoreWithoutSpawn", []string{"bench", "--store", "postgres://x"}, 2, "", "need --spawn"},
		{"SchemaWithoutAdminKey", []string{"bench", "--schema"}, 2, "", "--admin-key"},
		{"Argument", []string{"bench", "extra"}, 2, "", `unexpected argument "extra"`},
		{"SuiteArgument", []string{"bench", "suite", "extra"}, 2, "", `unexpected argument "extra"`},
		{"SubscribeWithoutKey", []string{"bench", "subscribe"}, 2, "", "--key"},
		{"SubscribeBadRate", []string{"bench", "subscribe", "--spawn", "--rate", "0"}, 2, "", "must be positive"},
		{"SubscribeURLAndSpawn", []string{"bench", "subscribe", "--spawn", "--url", "http://x/"}, 2, "", "--url and --spawn"},
	})
}
