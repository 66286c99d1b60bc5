package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BuildSluice builds the sluice command (pkg: the path of cmd/sluice from
// the calling test's package) into a new temporary directory, for tests
// that run the real binary from their TestMain. It returns the binary's
// path and a function that removes it.
func BuildSluice(pkg string) (binary string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "sluice-bin-")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	binary = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", binary, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		remove()
		return "", nil, fmt.Errorf("build sluice: %w", err)
	}
	return binary, remove, nil
}

// LogBuffer is a process's log, safe for concurrent use: the process
// writes while a test reads, and every write signals on Written.
type LogBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // capacity 1
}

// NewLogBuffer returns an empty LogBuffer.
func NewLogBuffer() *LogBuffer { return &LogBuffer{written: make(chan struct{}, 1)} }

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.written <- struct{}{}:
	default:
	}
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Written receives after writes (at most one pending signal).
func (l *LogBuffer) Written() <-chan struct{} { return l.written }

// WaitListening waits until log has sluice's "listening" line and returns
// the server's base URL. It fails the test, showing the log, when the
// server exits first (exited closes) or does not listen within timeout.
func WaitListening(tb testing.TB, log *LogBuffer, exited <-chan struct{}, timeout time.Duration) string {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if addr := listenAddr(log.String()); addr != "" {
			return "http://" + addr
		}
		select {
		case <-log.Written():
		case <-exited:
			tb.Fatalf("sluice exited before listening; its log:\n%s", log)
		case <-deadline.C:
			tb.Fatalf("sluice did not log \"listening\" within %s; its log:\n%s", timeout, log)
		}
	}
}

// listenAddr returns the address of the first "listening" line of a JSON
// log, or "".
func listenAddr(log string) string {
	for line := range strings.Lines(log) {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			return rec.Addr
		}
	}
	return ""
}
