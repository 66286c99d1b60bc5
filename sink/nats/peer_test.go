package nats

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gonats "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/internal/testutil"
)

// The tests' NATS peers: the machine's server (JetStream on
// 127.0.0.1:4222, SLUICE_TEST_NATS to name another), servers of their own
// run from the nats-server binary with a configuration of the test's
// (authentication, TLS, a small max_payload, a restart), and a proxy in
// front of a server that injects faults into the real protocol.

// missing skips the test for want of a peer, or fails it under CI: CI
// must never pass by skipping.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s, and CI is set: the NATS tests must run in CI", msg)
	}
	tb.Skipf("%s: skipping", msg)
}

// systemURL returns the machine's NATS server's URL, once it answers.
func systemURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("SLUICE_TEST_NATS")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	nc, err := gonats.Connect(url, gonats.Timeout(2*time.Second))
	if err != nil {
		missing(tb, "no NATS server at %s (%v)", url, err)
	}
	nc.Close()
	return url
}

// randomName returns n random hexadecimal digits.
func randomName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// testStream is a JetStream stream of the test's own, deleted when the
// test ends: its name, the prefix of its subjects (prefix.>), and a
// connection to read it.
type testStream struct {
	name, prefix string
	js           jetstream.JetStream
	stream       jetstream.Stream
}

// newTestStream creates a stream on the server at url, connecting with
// opts, with cfg's limits (its name and subjects are set here).
func newTestStream(tb testing.TB, url string, cfg jetstream.StreamConfig, opts ...gonats.Option) *testStream {
	tb.Helper()
	nc, err := gonats.Connect(url, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	id := randomName()
	ts := &testStream{name: "SLUICE_TEST_" + id, prefix: "sluicetest." + id}
	ts.js, err = jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Name, cfg.Subjects = ts.name, []string{ts.prefix + ".>"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ts.stream, err = ts.js.CreateStream(ctx, cfg); err != nil {
		tb.Fatalf("create stream %s: %v", ts.name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.js.DeleteStream(ctx, ts.name); err != nil {
			tb.Errorf("delete stream %s: %v", ts.name, err)
		}
		nc.Close()
	})
	return ts
}

// messages returns every message the stream holds, in order.
func (ts *testStream) messages(tb testing.TB) []*jetstream.RawStreamMsg {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := ts.stream.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := ts.stream.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatalf("get message %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// follower reads a stream as it grows, with an ordered consumer.
type follower struct {
	ts   *testStream
	mu   sync.Mutex
	msgs [][]byte
	last uint64 // the stream sequence of the last message read
}

func (ts *testStream) follow(tb testing.TB) *follower {
	tb.Helper()
	f := &follower{ts: ts}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ts.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.msgs = append(f.msgs, m.Data())
		f.last = md.Sequence.Stream
		f.mu.Unlock()
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cc.Stop)
	return f
}

// received returns the bodies of every message the stream holds, once the
// follower has read up to its last.
func (f *follower) received(tb testing.TB) [][]byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := f.ts.stream.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	testutil.Eventually(tb, 10*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		out = append([][]byte(nil), f.msgs...)
		return f.last >= info.State.LastSeq
	}, fmt.Sprintf("the consumer did not read stream %s up to %d", f.ts.name, info.State.LastSeq))
	return out
}

// server is a nats-server process of the test's own, with JetStream.
type server struct {
	tb     testing.TB
	args   []string
	url    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startServer runs nats-server on a free port with the configuration conf
// (nats-server's format; listen, port and JetStream are set here) and
// waits until it takes connections with opts. It is killed at the test's
// end.
func startServer(tb testing.TB, conf string, opts ...gonats.Option) *server {
	tb.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nats-server"); err != nil {
			missing(tb, "no nats-server binary")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := tb.TempDir()
	path := filepath.Join(dir, "nats.conf")
	conf = fmt.Sprintf("listen: 127.0.0.1:%d\njetstream { store_dir: %q }\n%s\n", port, filepath.Join(dir, "js"), conf)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	s := &server{tb: tb, args: []string{bin, "-c", path}, url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	s.start(opts...)
	tb.Cleanup(s.kill)
	return s
}

// start runs the server and waits until it takes connections.
func (s *server) start(opts ...gonats.Option) {
	s.tb.Helper()
	var log bytes.Buffer
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = &log, &log
	if err := s.cmd.Start(); err != nil {
		s.tb.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := gonats.Connect(s.url, append(opts, gonats.Timeout(time.Second))...)
		if err == nil {
			js, _ := jetstream.New(nc)
			_, err = js.AccountInfo(context.Background()) // JetStream is up
			nc.Close()
			if err == nil {
				return
			}
		}
		select {
		case <-s.exited:
			s.tb.Fatalf("nats-server exited: %s", &log)
		default:
		}
		if time.Now().After(deadline) {
			s.tb.Fatalf("nats-server does not take connections at %s: %v", s.url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server at once, as a crash would.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// proxy relays the NATS protocol between clients and a real server, and
// injects faults: an outage (connections closed and refused), and faults
// of chosen messages by their Nats-Msg-Id, rewritten so that the real
// server answers them with a real error: a refused message is padded past
// the stream's max_msg_size (JetStream answers 10054, message size exceeds
// maximum), a flaky one is sent to a subject no stream holds (no
// responders, 503), and a stall holds every byte both ways. With
// everyDelivery it renames the Nats-Msg-Id header (Test-Msg-Id), so that
// JetStream stores every delivery, re-sends included, as a count of
// deliveries needs.
type proxy struct {
	url      string
	l        net.Listener
	upstream string
	unbound  string // a subject no stream holds
	maxMsg   int    // the stream's max_msg_size
	every    bool   // rename Nats-Msg-Id
	mu       sync.Mutex
	down     bool
	conns    map[net.Conn]bool
	refused  map[string]bool
	flaky    map[string]int
	resume   chan struct{} // non-nil while stalled; closed to resume
}

// startProxy relays to the server at upstream (nats://host:port) until
// the test ends.
func startProxy(tb testing.TB, upstream, unbound string, maxMsg int, everyDelivery bool) *proxy {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{url: "nats://" + l.Addr().String(), l: l, upstream: strings.TrimPrefix(upstream, "nats://"),
		unbound: unbound, maxMsg: maxMsg, every: everyDelivery, conns: map[net.Conn]bool{}, refused: map[string]bool{}, flaky: map[string]int{}}
	done := make(chan struct{})
	go func() { defer close(done); p.accept() }()
	tb.Cleanup(func() {
		l.Close()
		<-done
		p.setStall(false)
		p.closeAll()
	})
	return p
}

func (p *proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close() // refused
			continue
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() {
			p.fromClient(c, up)
			c.Close()
			up.Close()
		}()
		go func() {
			p.relay(up, c)
			c.Close()
			up.Close()
		}()
	}
}

// outage, while on, closes every connection and refuses new ones.
func (p *proxy) outage(on bool) {
	p.mu.Lock()
	p.down = on
	p.mu.Unlock()
	if on {
		p.closeAll()
	}
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// setStall holds (on) or releases every byte, both ways.
func (p *proxy) setStall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.resume == nil:
		p.resume = make(chan struct{})
	case !on && p.resume != nil:
		close(p.resume)
		p.resume = nil
	}
}

// gate waits while the proxy is stalled.
func (p *proxy) gate() {
	p.mu.Lock()
	resume := p.resume
	p.mu.Unlock()
	if resume != nil {
		<-resume
	}
}

// refuse: the messages of these ids are refused for good from now on;
// none clears it.
func (p *proxy) refuse(ids []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.refused)
	for _, id := range ids {
		p.refused[id] = true
	}
}

// setFlaky: the messages of these ids fail the next times times.
func (p *proxy) setFlaky(ids []string, times int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.flaky[id] = times
	}
}

// relay copies the server's bytes to the client, held while stalled.
func (p *proxy) relay(from, to net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := from.Read(buf)
		if n > 0 {
			p.gate()
			if _, werr := to.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// fromClient relays the client's protocol to the server, message by
// message, rewriting the faulty ones.
func (p *proxy) fromClient(c, up net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	w := bufio.NewWriterSize(up, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		out := []byte(line)
		if len(f) >= 4 && strings.EqualFold(f[0], "HPUB") || len(f) >= 3 && strings.EqualFold(f[0], "PUB") {
			if out, err = p.message(r, f); err != nil {
				return
			}
		}
		p.gate()
		if _, err := w.Write(out); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// message reads the body of the PUB or HPUB whose line's fields are f and
// returns the message to send on, rewritten when its id is faulty.
func (p *proxy) message(r *bufio.Reader, f []string) ([]byte, error) {
	total, err := strconv.Atoi(f[len(f)-1])
	if err != nil {
		return nil, err
	}
	body := make([]byte, total+2) // and its CRLF
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	line := strings.Join(f, " ") + "\r\n"
	if !strings.EqualFold(f[0], "HPUB") {
		return append([]byte(line), body...), nil
	}
	hlen, err := strconv.Atoi(f[len(f)-2])
	if err != nil {
		return nil, err
	}
	hdr, data := body[:hlen], body[hlen:total]
	id := headerValue(hdr, jetstream.MsgIDHeader)
	if p.every {
		if i := bytes.Index(hdr, []byte(jetstream.MsgIDHeader+":")); i >= 0 {
			copy(hdr[i:], "Test-Msg-Id:") // as long
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.refused[id]:
		data = append(data, bytes.Repeat([]byte(" "), p.maxMsg)...)
	case p.flaky[id] > 0:
		p.flaky[id]--
		f[1] = p.unbound
	default:
		return append([]byte(line), body...), nil
	}
	f[len(f)-1] = strconv.Itoa(hlen + len(data))
	return fmt.Appendf(nil, "%s\r\n%s%s\r\n", strings.Join(f, " "), hdr, data), nil
}

// headerValue returns the value of key in a NATS header block.
func headerValue(hdr []byte, key string) string {
	for line := range strings.Lines(string(hdr)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
