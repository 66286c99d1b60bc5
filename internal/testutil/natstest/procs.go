package natstest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/testutil"
)

// BuildServer builds the nats-server command of the nats-server module
// that go.mod names into dir, for tests that run servers as processes (to
// kill them with SIGKILL), and returns its path.
func BuildServer(dir string) (string, error) {
	bin := filepath.Join(dir, "nats-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build nats-server: %w", err)
	}
	return bin, nil
}

// Procs is a JetStream cluster of nats-server processes on loopback, each
// with a store directory of its own that outlives a kill.
type Procs struct {
	tb      testing.TB
	binary  string
	names   []string
	ports   []int // client ports
	args    [][]string
	cmds    []*exec.Cmd
	exited  []chan struct{}
	running []bool
}

// StartProcs starts n nats-server processes of binary as one cluster and
// returns once JetStream has a meta leader that knows every server. The
// test's end kills them.
func StartProcs(tb testing.TB, binary string, n int) *Procs {
	tb.Helper()
	ports := freePorts(tb, 2*n)
	client, cluster := ports[:n], ports[n:]
	routes := make([]string, n)
	for i, p := range cluster {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	c := &Procs{tb: tb, binary: binary, ports: client}
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		c.names = append(c.names, name)
		c.args = append(c.args, []string{"-n", name, "-a", "127.0.0.1", "-p", fmt.Sprint(client[i]), "-js", "-sd", tb.TempDir(),
			"--cluster_name", "sluicetest", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", cluster[i]), "--routes", strings.Join(routes, ",")})
	}
	c.cmds, c.exited, c.running = make([]*exec.Cmd, n), make([]chan struct{}, n), make([]bool, n)
	for i := range n {
		c.Start(i)
	}
	tb.Cleanup(func() {
		for i := range c.cmds {
			c.Kill(i)
		}
	})
	testutil.Eventually(tb, 30*time.Second, c.ready, "natstest: the cluster of processes elected no JetStream meta leader")
	return c
}

// URLs is the client URL of every server, running or not, comma separated:
// a client given them all reconnects to whichever runs.
func (c *Procs) URLs() string {
	urls := make([]string, len(c.ports))
	for i, p := range c.ports {
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", p)
	}
	return strings.Join(urls, ",")
}

// Name is server i's name, as JetStream reports a stream's leader.
func (c *Procs) Name(i int) string { return c.names[i] }

// Index is the number of the server named name, -1 if none.
func (c *Procs) Index(name string) int {
	for i, n := range c.names {
		if n == name {
			return i
		}
	}
	return -1
}

// Start starts server i (again, on its store directory) and waits until it
// accepts connections.
func (c *Procs) Start(i int) {
	c.tb.Helper()
	cmd := exec.Command(c.binary, c.args[i]...)
	if err := cmd.Start(); err != nil {
		c.tb.Fatalf("natstest: start %s: %v", c.names[i], err)
	}
	exited := make(chan struct{})
	go func() { defer close(exited); _ = cmd.Wait() }()
	c.cmds[i], c.exited[i], c.running[i] = cmd, exited, true
	addr := fmt.Sprintf("127.0.0.1:%d", c.ports[i])
	testutil.Eventually(c.tb, readyTimeout, func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, "natstest: "+c.names[i]+" accepts no connections")
}

// Kill kills server i with SIGKILL and waits until it has exited.
func (c *Procs) Kill(i int) {
	if !c.running[i] {
		return
	}
	_ = c.cmds[i].Process.Signal(syscall.SIGKILL)
	<-c.exited[i]
	c.running[i] = false
}

// ready reports whether the servers running have a JetStream meta leader
// that knows all of them as current.
func (c *Procs) ready() bool {
	nc, err := nats.Connect(c.URLs(), nats.Timeout(time.Second))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err == nil
}

// StreamLeader is the name of the server that leads stream, "" while it
// has none.
func (c *Procs) StreamLeader(stream string) string {
	info, err := c.streamInfo(stream)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// Current reports whether stream has a leader and every other replica is
// online and current with it.
func (c *Procs) Current(stream string) bool {
	info, err := c.streamInfo(stream)
	if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
		return false
	}
	for _, r := range info.Cluster.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

// streamInfo asks the cluster about stream over a connection of its own.
func (c *Procs) streamInfo(stream string) (*jetstream.StreamInfo, error) {
	nc, err := nats.Connect(c.URLs(), nats.Timeout(time.Second))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}
