// Package npmpeers starts the protocol peers that tests talk to and that
// npm installs: package.json in this folder lists them (kinesalite for the
// Kinesis sink, dynalite for the DynamoDB import; Segment's and RudderStack's SDKs and playwright-core for
// the Segment routes), and `npm ci` here (as .ci/run does) puts them in
// node_modules. npm runs no install scripts on these machines, which the
// peers do without (kinesalite and dynalite keep their data in memory; playwright-core
// drives the system's Chromium and never downloads a browser).
package npmpeers

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ErrNotInstalled: node, or the peer's package, is not installed.
var ErrNotInstalled = errors.New("not installed")

// Peer is a running peer.
type Peer struct {
	// Addr is the host:port it listens on.
	Addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	log    strings.Builder
}

// Start runs the executable that an npm package of this folder installs
// under the name bin, with args, each "{port}" in them replaced by a free
// port, and waits until that port takes connections. The peer keeps
// running when a client aborts a request (keepup.cjs). The error wraps
// ErrNotInstalled when node or the package is missing.
func Start(bin string, args ...string) (*Peer, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, fmt.Errorf("node: %w", ErrNotInstalled)
	}
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "node_modules", ".bin", bin)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s (make peers installs it in %s): %w", bin, filepath.Dir(file), ErrNotInstalled)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := make([]string, len(args))
	for i, a := range args {
		argv[i] = strings.ReplaceAll(a, "{port}", strconv.Itoa(port))
	}
	p := &Peer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), exited: make(chan struct{})}
	p.cmd = exec.Command(path, argv...)
	p.cmd.Env = append(os.Environ(), "NODE_OPTIONS=--require "+filepath.Join(filepath.Dir(file), "keepup.cjs"))
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	p.cmd.SysProcAttr = dieWithParent()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err == nil {
			conn.Close()
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited before listening on %s: %s", bin, p.Addr, p.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s: not listening on %s within 30s", bin, p.Addr)
		}
	}
}

// Node returns the command that runs the node script with args, finding
// the packages of this folder (NODE_PATH), or an error that wraps
// ErrNotInstalled when node or one of the packages is missing.
func Node(script string, packages []string, args ...string) (*exec.Cmd, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return nil, fmt.Errorf("node: %w", ErrNotInstalled)
	}
	_, file, _, _ := runtime.Caller(0)
	modules := filepath.Join(filepath.Dir(file), "node_modules")
	for _, p := range packages {
		if _, err := os.Stat(filepath.Join(modules, p, "package.json")); err != nil {
			return nil, fmt.Errorf("%s (make peers installs it in %s): %w", p, filepath.Dir(file), ErrNotInstalled)
		}
	}
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.SysProcAttr = dieWithParent()
	return cmd, nil
}

// Stop kills the peer and waits until it has exited.
func (p *Peer) Stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Skip skips tb when err, from Start, says that the peer is not installed
// (or fails it when CI is set: CI must never pass by skipping), and fails
// it on any other error.
func Skip(tb testing.TB, err error) {
	tb.Helper()
	switch {
	case err == nil:
	case errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "":
		tb.Skipf("skipping: %v", err)
	default:
		tb.Fatalf("test peer: %v", err)
	}
}

// freePort returns a TCP port of the loopback interface that nothing
// listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Run runs the node script with the packages of this folder and env,
// skipping tb when node or a package is not installed (failing it under
// CI), failing it when the script fails or runs for more than two
// minutes, and returns what the script printed on its standard output.
func Run(tb testing.TB, script string, packages []string, env ...string) []byte {
	tb.Helper()
	cmd, err := Node(script, packages)
	Skip(tb, err)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- cmd.Run() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Fatalf("%s: %v\n%s%s", script, err, stdout.Bytes(), stderr.Bytes())
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		tb.Fatalf("%s: still running after 2 minutes\n%s%s", script, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}

// Shared is a peer that the first test of a binary to need it starts and
// the others share; the binary's TestMain stops it.
type Shared struct {
	bin  string
	args []string
	once sync.Once
	p    *Peer
	err  error
}

// NewShared is the peer Start(bin, args...) would run, not started yet.
func NewShared(bin string, args ...string) *Shared { return &Shared{bin: bin, args: args} }

// Addr starts the peer if it is not running and returns its host:port,
// or skips tb when it is not installed (fails it when CI is set).
func (s *Shared) Addr(tb testing.TB) string {
	tb.Helper()
	s.once.Do(func() { s.p, s.err = Start(s.bin, s.args...) })
	Skip(tb, s.err)
	return s.p.Addr
}

// Stop stops the peer if it was started, and returns what it wrote to
// its output (for a failed test binary to show).
func (s *Shared) Stop() string {
	if s.p == nil {
		return ""
	}
	s.p.Stop()
	return s.p.log.String()
}
