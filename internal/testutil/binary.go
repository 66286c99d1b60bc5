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
	"syscall"
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

// Sluice is the sluice binary running "serve" for a test.
type Sluice struct {
	Cmd *exec.Cmd
	// Log is what it writes to its standard error (its JSON log).
	Log *LogBuffer
	// Exited is closed once it has exited.
	Exited chan struct{}
	// Base is its URL.
	Base string
	// Started is the time from exec to its "listening" line.
	Started time.Duration
}

// StartSluice runs "binary serve --listen 127.0.0.1:0 args..." with the
// environment's variables but its SLUICE_ ones, then env, and waits until
// it listens. The test's end kills it if it still runs.
func StartSluice(t testing.TB, binary string, env []string, args ...string) *Sluice {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	s := &Sluice{Cmd: cmd, Log: NewLogBuffer(), Exited: make(chan struct{})}
	cmd.Stderr = s.Log
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.Exited)
		_ = cmd.Wait()
	}()
	t.Cleanup(s.Kill)
	s.Base = WaitListening(t, s.Log, s.Exited, 60*time.Second)
	s.Started = time.Since(begin)
	return s
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Sluice) Kill() {
	select {
	case <-s.Exited:
		return
	default:
	}
	_ = s.Cmd.Process.Signal(syscall.SIGKILL)
	<-s.Exited
}

// Stop sends SIGTERM and fails the test unless the process exits within
// 30s.
func (s *Sluice) Stop(t testing.TB) {
	t.Helper()
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.Exited:
	case <-time.After(30 * time.Second):
		t.Errorf("sluice did not exit within 30s of SIGTERM; its log:\n%s", s.Log)
		s.Kill()
	}
}
