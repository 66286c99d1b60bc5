// Package natstest starts NATS servers with JetStream inside a test: one
// node, or a cluster of several on loopback, each on random ports with a
// store directory of the test's own. The servers come from the
// nats-server module, so their version is the one go.mod names (the
// machine's own nats-server is too old for atomic batch publish). It is for
// tests only.
package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/sluicehq/sluice/internal/testutil"
)

// readyTimeout bounds how long a server may take to accept connections.
const readyTimeout = 10 * time.Second

// Cluster is a set of JetStream servers that form one cluster.
type Cluster struct {
	Servers []*server.Server
	opts    []*server.Options
}

// URLs is the client URL of every running server, comma separated, as
// nats.Connect takes it.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.Servers {
		if s != nil && s.Running() {
			urls = append(urls, s.ClientURL())
		}
	}
	return strings.Join(urls, ",")
}

// Kill stops server i at once, without a lame-duck phase: its clients see
// the connection drop as they would on SIGKILL.
func (c *Cluster) Kill(i int) {
	c.Servers[i].Shutdown()
	c.Servers[i].WaitForShutdown()
}

// Single starts one JetStream server, stopped when the test ends.
func Single(tb testing.TB) *Cluster {
	tb.Helper()
	opts := baseOptions(tb, "single")
	return start(tb, []*server.Options{opts}, 1)
}

// StartServer starts server i: one that StartSome left out, or one that
// Kill stopped (again, on its store directory); it returns once the server
// accepts connections.
func (c *Cluster) StartServer(tb testing.TB, i int) {
	tb.Helper()
	c.Servers[i] = c.run(tb, c.opts[i])
	if !c.Servers[i].ReadyForConnections(readyTimeout) {
		tb.Fatalf("natstest: server %s not ready", c.Servers[i].Name())
	}
}

// Start starts a cluster of n JetStream servers on loopback, stopped when
// the test ends, and returns once every server is ready and JetStream has a
// meta leader.
func Start(tb testing.TB, n int) *Cluster {
	tb.Helper()
	return StartSome(tb, n, n)
}

// StartSome configures a cluster of n servers but starts only the first
// running of them, as Start does; StartServer starts the others, as
// servers that join later. Every server's routes name the first running
// (a JetStream cluster forms once it has seen every server its routes
// name). Servers not started are nil in Servers.
func StartSome(tb testing.TB, n, running int) *Cluster {
	tb.Helper()
	ports := freePorts(tb, n)
	routes := make([]string, running)
	for i, p := range ports[:running] {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	all := make([]*server.Options, n)
	for i := range all {
		opts := baseOptions(tb, fmt.Sprintf("n%d", i))
		opts.Cluster.Name = "sluicetest"
		opts.Cluster.Host = "127.0.0.1"
		opts.Cluster.Port = ports[i]
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		all[i] = opts
	}
	c := start(tb, all, running)
	testutil.Eventually(tb, readyTimeout, c.hasMetaLeader, "natstest: the cluster elected no JetStream meta leader")
	return c
}

// hasMetaLeader reports whether a meta leader is elected, every server is
// current with it, and the leader knows every server online: until then, it
// refuses to place a replicated stream ("no suitable peers for placement,
// peer offline").
func (c *Cluster) hasMetaLeader() bool {
	started := 0
	for _, s := range c.Servers {
		if s != nil {
			started++
		}
	}
	for _, s := range c.Servers {
		if s != nil && s.Running() && s.JetStreamIsLeader() {
			for _, o := range c.Servers {
				if o != nil && !o.JetStreamIsCurrent() {
					return false
				}
			}
			return len(s.JetStreamClusterPeers()) == started
		}
	}
	return false
}

func baseOptions(tb testing.TB, name string) *server.Options {
	return &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   tb.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	}
}

// start starts the first running servers of all.
func start(tb testing.TB, all []*server.Options, running int) *Cluster {
	tb.Helper()
	c := &Cluster{opts: all, Servers: make([]*server.Server, len(all))}
	for i := range running {
		c.Servers[i] = c.run(tb, all[i])
	}
	for _, s := range c.Servers[:running] {
		if !s.ReadyForConnections(readyTimeout) {
			tb.Fatalf("natstest: server %s not ready", s.Name())
		}
	}
	return c
}

// run starts a server, stopped when the test ends.
func (c *Cluster) run(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("natstest: %v", err)
	}
	go s.Start()
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// freePorts returns n ports free on loopback right now, for the cluster
// routes (each server must know the others' ports before it starts).
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		defer l.Close()
	}
	return ports
}
