package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// binary is the sluice command built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests builds the binary into a temporary directory, then runs the
// tests.
func runTests(m *testing.M) int {
	var remove func()
	var err error
	if binary, remove, err = testutil.BuildSluice("."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	return m.Run()
}

// testMain is a Main whose output is captured and whose environment is env.
type testMain struct {
	*Main
	stdout, stderr *testutil.LogBuffer
}

func newTestMain(env map[string]string) *testMain {
	tm := &testMain{stdout: testutil.NewLogBuffer(), stderr: testutil.NewLogBuffer()}
	tm.Main = &Main{
		Stdout: tm.stdout,
		Stderr: tm.stderr,
		LookupEnv: func(key string) (string, bool) {
			v, ok := env[key]
			return v, ok
		},
	}
	return tm
}

// serveInProcess runs "serve args..." on tm until the test stops it with
// the returned function, which returns Run's error.
func serveInProcess(t *testing.T, tm *testMain, args ...string) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	var err error
	go func() {
		defer close(exited)
		err = tm.Run(ctx, append([]string{"serve"}, args...))
	}()
	stop = func() error {
		t.Helper()
		cancel()
		select {
		case <-exited:
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("serve did not stop within 30s; its log:\n%s", tm.stderr)
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return testutil.WaitListening(t, tm.stderr, exited, 30*time.Second), stop
}

// call sends a request with key (none when empty) and returns the status
// and body.
func call(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode, b
}

// expectStatus calls and fails the test when the status is not want.
func expectStatus(t *testing.T, want int, method, url, key, body string) []byte {
	t.Helper()
	status, b := call(t, method, url, key, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, url, status, want, b)
	}
	return b
}

func TestRun(t *testing.T) {
	t.Parallel()
	runCases(t, []runCase{
		{"NoCommand", nil, 2, "", "no command"},
		{"UnknownCommand", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"Help", []string{"help"}, 0, "Commands:", ""},
		{"HelpServe", []string{"help", "serve"}, 0, "--listen ADDR", ""},
		{"HelpUnknown", []string{"help", "frobnicate"}, 2, "", "unknown command"},
		{"ServeDashH", []string{"serve", "-h"}, 0, "SLUICE_ADMIN_KEY", ""},
		{"ServeBadFlag", []string{"serve", "--frobnicate"}, 2, "", "flag provided but not defined"},
		{"ServeArgument", []string{"serve", "extra"}, 2, "", `unexpected argument "extra"`},
		{"Version", []string{"version"}, 0, "sluice ", ""},
		{"ConfigNoSubcommand", []string{"config"}, 2, "", "check [FILE]"},
		{"ConfigCheckTwoFiles", []string{"config", "check", "a.yaml", "b.yaml"}, 2, "", "at most one FILE"},
	})
}

// runCase is a command line, the exit code it must give, text its stdout
// must hold, and text its error must hold ("": any).
type runCase struct {
	name     string
	args     []string
	code     int
	stdout   string
	errorMsg string
}

// runCases runs each case as a parallel subtest.
func runCases(t *testing.T, cases []runCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tm := newTestMain(nil)
			err := tm.Run(context.Background(), tc.args)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit code %d (error %v), want %d", got, err, tc.code)
			}
			if !strings.Contains(tm.stdout.String(), tc.stdout) {
				t.Errorf("stdout %q does not contain %q", tm.stdout, tc.stdout)
			}
			if tc.errorMsg != "" && !strings.Contains(err.Error(), tc.errorMsg) {
				t.Errorf("error %q does not contain %q", err, tc.errorMsg)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{usageErrorf("bad"), 2},
		{fmt.Errorf("serve: %w", usageErrorf("bad")), 2},
		{io.EOF, 1},
	} {
		if got := exitCode(tc.err); got != tc.code {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}
}
