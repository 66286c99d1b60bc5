package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gonats "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// records makes n stored events over three streams, with their bodies as
// the runner hands them over.
func records(prefix string, n int) []sluice.SinkRecord {
	recs := make([]sluice.SinkRecord, n)
	for i := range recs {
		e := &sluice.Event{ID: fmt.Sprintf("%s-%03d", prefix, i), Type: "test.happened", Stream: fmt.Sprintf("s%d", i%3),
			Data: []byte(fmt.Sprintf(`{"n": %d}`, i)), Position: sluice.Position(i + 1), Version: uint64(i/3 + 1),
			RecordedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
		recs[i] = sluice.SinkRecord{Event: e, Body: e.AppendJSON(nil)}
	}
	return recs
}

// open opens the sink of cfg and closes it when tb ends.
func open(tb testing.TB, cfg *Config) *Sink {
	tb.Helper()
	return sinktest.Open[*Sink](tb, cfg, sink.Env{Name: "test"})
}

// connected waits until the sink's connection is up.
func connected(tb testing.TB, s *Sink) {
	tb.Helper()
	testutil.Eventually(tb, 20*time.Second, func() bool { return s.nc.Status() == gonats.CONNECTED }, "the sink did not connect")
}

// behindProxy opens a sink of cfg to a new stream on the server at url,
// through a proxy, once connected.
func behindProxy(t *testing.T, url string, cfg Config) (*testStream, *proxy, *Sink) {
	t.Helper()
	ts := newTestStream(t, url, jetstream.StreamConfig{})
	p := startProxy(t, url, "", 0, false)
	cfg.URL, cfg.Subject = p.url, ts.prefix+".{stream}"
	s := open(t, &cfg)
	connected(t, s)
	return ts, p, s
}

// failedIndexes returns the indexes a *DeliveryError lists, and whether
// each is permanent.
func failedIndexes(t *testing.T, err error) (idx []int, permanent []bool) {
	t.Helper()
	var de *sluice.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("%v (%T), want a *sluice.DeliveryError", err, err)
	}
	for _, f := range de.Failed {
		idx = append(idx, f.Index)
		permanent = append(permanent, sluice.IsPermanent(f.Err))
	}
	return idx, permanent
}

// wholeBatch fails the test unless err is a failure of the whole batch
// that a retry may fix.
func wholeBatch(t *testing.T, err error) {
	t.Helper()
	var de *sluice.DeliveryError
	if err == nil || errors.As(err, &de) || sluice.IsPermanent(err) {
		t.Fatalf("%v, want an error of the whole batch that may pass", err)
	}
}

func ids(msgs []*jetstream.RawStreamMsg) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Header.Get(jetstream.MsgIDHeader)
	}
	return out
}

func recordIDs(recs []sluice.SinkRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Event.ID
	}
	return out
}

func TestSink_Deliver(t *testing.T) {
	url := systemURL(t)
	ctx := context.Background()

	t.Run("InOrderWithTheirIDs", func(t *testing.T) {
		t.Parallel()
		ts := newTestStream(t, url, jetstream.StreamConfig{})
		s := open(t, &Config{URL: url, Subject: ts.prefix + ".{category}.{stream}", MaxPending: 8})
		recs := records("ord", 50)
		recs[4].Event.Stream = "order-4.2 é*" // a name no subject token takes as it is
		if err := s.Deliver(ctx, recs); err != nil {
			t.Fatal(err)
		}
		msgs := ts.messages(t)
		if got := ids(msgs); !slices.Equal(got, recordIDs(recs)) {
			t.Fatalf("the stream holds %v, want %v", got, recordIDs(recs))
		}
		for i, m := range msgs {
			e := recs[i].Event
			want := map[string]string{jetstream.MsgIDHeader: e.ID, HeaderPosition: fmt.Sprint(e.Position),
				HeaderVersion: fmt.Sprint(e.Version), HeaderType: e.Type, HeaderStream: e.Stream}
			for k, v := range want {
				if got := m.Header.Get(k); got != v {
					t.Errorf("message %d: %s %q, want %q", i, k, got, v)
				}
			}
			if string(m.Data) != string(recs[i].Body) {
				t.Errorf("message %d: body %s, want %s", i, m.Data, recs[i].Body)
			}
		}
		if got, want := msgs[4].Subject, ts.prefix+".order.order-4.2%20%C3%A9%2A"; got != want {
			t.Errorf("subject %q, want %q", got, want)
		}
	})

	t.Run("ReSentRecordsStoredOnce", func(t *testing.T) {
		t.Parallel()
		ts := newTestStream(t, url, jetstream.StreamConfig{}) // the default dedupe window, 2m
		s := open(t, &Config{URL: url, Subject: ts.prefix + ".{stream}"})
		recs := records("dup", 10)
		for range 2 {
			if err := s.Deliver(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		if got := ids(ts.messages(t)); !slices.Equal(got, recordIDs(recs)) {
			t.Fatalf("after a re-send the stream holds %v, want each once", got)
		}
	})

	t.Run("RecordsTheStreamRefuses", func(t *testing.T) {
		t.Parallel()
		ts := newTestStream(t, url, jetstream.StreamConfig{MaxMsgSize: 1024})
		s := open(t, &Config{URL: url, Subject: ts.prefix + ".{stream}"})
		recs := records("big", 6)
		for _, i := range []int{1, 4} {
			recs[i].Body = []byte(`{"pad": "` + strings.Repeat("x", 2000) + `"}`)
		}
		idx, permanent := failedIndexes(t, s.Deliver(ctx, recs))
		if !slices.Equal(idx, []int{1, 4}) || !slices.Equal(permanent, []bool{true, true}) {
			t.Fatalf("failed %v (permanent %v), want 1 and 4, permanent", idx, permanent)
		}
		if got := ids(ts.messages(t)); !slices.Equal(got, []string{"big-000", "big-002", "big-003", "big-005"}) {
			t.Fatalf("the stream holds %v", got)
		}
	})

	t.Run("SealedStream", func(t *testing.T) {
		t.Parallel()
		ts := newTestStream(t, url, jetstream.StreamConfig{})
		cfg := ts.stream.CachedInfo().Config
		cfg.Sealed = true
		if _, err := ts.js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		s := open(t, &Config{URL: url, Subject: ts.prefix + ".{stream}"})
		idx, permanent := failedIndexes(t, s.Deliver(ctx, records("sealed", 3)))
		if !slices.Equal(idx, []int{0, 1, 2}) || slices.Contains(permanent, false) {
			t.Fatalf("failed %v (permanent %v), want all, permanent", idx, permanent)
		}
	})

	t.Run("NoStreamHoldsTheSubject", func(t *testing.T) {
		t.Parallel()
		s := open(t, &Config{URL: url, Subject: "sluicetest.unbound." + randomName()})
		err := s.Deliver(ctx, records("unbound", 3))
		wholeBatch(t, err)
		if !errors.Is(err, jetstream.ErrNoStreamResponse) {
			t.Fatalf("%v, want no responders", err)
		}
	})

	t.Run("RetryableAndPermanentFailuresOfSomeRecords", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		recs := records("part", 9)
		h.Flaky(t, []string{"part-002", "part-007"}, 1)
		h.Refuse(t, []string{"part-005"})
		s := open(t, h.Destination.(*Config))
		idx, permanent := failedIndexes(t, s.Deliver(ctx, recs))
		if !slices.Equal(idx, []int{2, 5, 7}) || !slices.Equal(permanent, []bool{false, true, false}) {
			t.Fatalf("failed %v (permanent %v), want 2, 5 (permanent) and 7", idx, permanent)
		}
		if got := len(h.Received(t)); got != 6 {
			t.Fatalf("the stream holds %d messages, want the 6 others", got)
		}
		// Once flaky records pass, they go.
		if err := s.Deliver(ctx, []sluice.SinkRecord{recs[2], recs[7]}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Outage", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		s := open(t, h.Destination.(*Config))
		connected(t, s)
		h.Outage(t, true)
		start := time.Now()
		wholeBatch(t, s.Deliver(ctx, records("out", 5)))
		if d := time.Since(start); d > time.Second {
			t.Errorf("a delivery while disconnected took %v, want it to fail at once", d)
		}
		h.Outage(t, false)
		testutil.Eventually(t, 20*time.Second, func() bool { return s.Deliver(ctx, records("out", 5)) == nil },
			"deliveries did not succeed again after the outage")
		if got := len(h.Received(t)); got != 5 {
			t.Fatalf("the stream holds %d messages, want 5", got)
		}
	})

	t.Run("LostAcknowledgements", func(t *testing.T) {
		t.Parallel()
		ts, p, s := behindProxy(t, url, Config{Timeout: 300 * time.Millisecond})
		recs := records("lost", 20)
		p.setStall(true)
		start := time.Now()
		err := s.Deliver(ctx, recs)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Deliver took %v with a 300ms timeout", d)
		}
		wholeBatch(t, err)
		if !errors.Is(err, errAckTimeout) {
			t.Fatalf("%v, want the timeout", err)
		}
		// The held messages reach the server late; their re-sends are
		// stored once.
		p.setStall(false)
		testutil.Eventually(t, 20*time.Second, func() bool { return s.Deliver(ctx, recs) == nil }, "the re-send failed")
		if got := ids(ts.messages(t)); !slices.Equal(got, recordIDs(recs)) {
			t.Fatalf("the stream holds %v, want each record once", got)
		}
	})

	t.Run("ContextCancelled", func(t *testing.T) {
		t.Parallel()
		_, p, s := behindProxy(t, url, Config{MaxPending: 4, Timeout: time.Minute})
		p.setStall(true)
		defer p.setStall(false)
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := s.Deliver(cctx, records("cancel", 20))
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Deliver returned %v after its context ended", d)
		}
		wholeBatch(t, err)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want context.Canceled", err)
		}
	})

	t.Run("AtMostMaxPendingAwaitingAcknowledgement", func(t *testing.T) {
		t.Parallel()
		ts, p, s := behindProxy(t, url, Config{MaxPending: 3, Timeout: time.Minute})
		p.setStall(true)
		recs := records("window", 10)
		done := make(chan error, 2)
		for _, half := range [][]sluice.SinkRecord{recs[:5], recs[5:]} { // two deliveries share the window
			go func() { done <- s.Deliver(ctx, half) }()
		}
		testutil.Eventually(t, 10*time.Second, func() bool { return s.js.PublishAsyncPending() == 3 }, "3 publishes not awaiting")
		time.Sleep(50 * time.Millisecond) // nothing more is sent, however long one waits
		if n := s.js.PublishAsyncPending(); n != 3 {
			t.Fatalf("%d publishes awaiting their acknowledgement, want max_pending, 3", n)
		}
		p.setStall(false)
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if got := len(ts.messages(t)); got != 10 {
			t.Fatalf("the stream holds %d messages, want 10", got)
		}
	})

	t.Run("OpenDoesNotWaitForTheServer", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens there
		start := time.Now()
		s := open(t, &Config{URL: "nats://" + addr})
		if d := time.Since(start); d > time.Second {
			t.Errorf("Open took %v with the server down", d)
		}
		err = s.Deliver(ctx, records("down", 2))
		wholeBatch(t, err)
		if !strings.Contains(err.Error(), "not connected") {
			t.Fatalf("%v, want not connected", err)
		}
	})
}

// TestSink_ServerRestart: the server killed and started again on the same
// port, with its store: deliveries fail meanwhile, the sink reconnects,
// and what was acknowledged before is still there.
func TestSink_ServerRestart(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	ts := newTestStream(t, srv.url, jetstream.StreamConfig{})
	s := open(t, &Config{URL: srv.url, Subject: ts.prefix + ".{stream}", Timeout: time.Second})
	ctx := context.Background()
	recs := records("restart", 20)
	if err := s.Deliver(ctx, recs[:10]); err != nil {
		t.Fatal(err)
	}
	srv.kill()
	wholeBatch(t, s.Deliver(ctx, recs[10:]))
	srv.start()
	testutil.Eventually(t, 30*time.Second, func() bool { return s.Deliver(ctx, recs[10:]) == nil }, "no delivery after the restart")
	if got := ids(ts.messages(t)); !slices.Equal(got, recordIDs(recs)) {
		t.Fatalf("after the restart the stream holds %v", got)
	}
}

// TestSink_ServerMaxPayload: a record larger than the server's
// max_payload fails for good, the others of its batch go.
func TestSink_ServerMaxPayload(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "max_payload: 4096")
	ts := newTestStream(t, srv.url, jetstream.StreamConfig{})
	s := open(t, &Config{URL: srv.url, Subject: ts.prefix + ".{stream}"})
	connected(t, s)
	recs := records("payload", 3)
	recs[1].Body = []byte(`"` + strings.Repeat("x", 5000) + `"`)
	idx, permanent := failedIndexes(t, s.Deliver(context.Background(), recs))
	if !slices.Equal(idx, []int{1}) || !permanent[0] {
		t.Fatalf("failed %v (permanent %v), want 1, permanent", idx, permanent)
	}
	if got := ids(ts.messages(t)); !slices.Equal(got, []string{"payload-000", "payload-002"}) {
		t.Fatalf("the stream holds %v", got)
	}
}

func TestSink_Authentication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("UserAndPassword", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, `authorization { user: sluice, password: "s3cret pass" }`, gonats.UserInfo("sluice", "s3cret pass"))
		ts := newTestStream(t, srv.url, jetstream.StreamConfig{}, gonats.UserInfo("sluice", "s3cret pass"))
		good := open(t, &Config{URL: srv.url, User: "sluice", Password: "s3cret pass", Subject: ts.prefix + ".{stream}"})
		connected(t, good)
		if err := good.Deliver(ctx, records("auth", 3)); err != nil {
			t.Fatal(err)
		}
		bad := open(t, &Config{URL: srv.url, User: "sluice", Password: "wrong", Subject: ts.prefix + ".{stream}"})
		var err error
		testutil.Eventually(t, 10*time.Second, func() bool {
			err = bad.Deliver(ctx, records("auth", 3))
			return err != nil && strings.Contains(strings.ToLower(err.Error()), "authorization")
		}, "a wrong password is not reported")
		wholeBatch(t, err)
	})
	t.Run("Token", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, `authorization { token: "t0ken" }`, gonats.Token("t0ken"))
		ts := newTestStream(t, srv.url, jetstream.StreamConfig{}, gonats.Token("t0ken"))
		s := open(t, &Config{URL: srv.url, Token: "t0ken", Subject: ts.prefix + ".{stream}"})
		connected(t, s)
		if err := s.Deliver(ctx, records("token", 3)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("MissingCredsFile", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, "")
		cfg := &Config{URL: srv.url, CredsFile: filepath.Join(t.TempDir(), "missing.creds")}
		if _, err := cfg.Open(ctx, sink.Env{Name: "test"}); err == nil || !strings.Contains(err.Error(), "missing.creds") {
			t.Fatalf("Open: %v, want the unreadable file", err)
		}
	})
	t.Run("MutualTLS", func(t *testing.T) {
		t.Parallel()
		pki := testutil.NewPKI(t)
		trust := []gonats.Option{gonats.RootCAs(pki.CA), gonats.ClientCert(pki.ClientCert, pki.ClientKey)}
		srv := startServer(t, fmt.Sprintf("tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true }", pki.ServerCert, pki.ServerKey, pki.CA), trust...)
		ts := newTestStream(t, srv.url, jetstream.StreamConfig{}, trust...)
		good := open(t, &Config{URL: srv.url, Subject: ts.prefix + ".{stream}",
			TLS: TLS{CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}})
		connected(t, good)
		if err := good.Deliver(ctx, records("tls", 3)); err != nil {
			t.Fatal(err)
		}
		// Without its certificate, the client is turned away.
		anonymous := open(t, &Config{URL: strings.Replace(srv.url, "nats://", "tls://", 1), Subject: ts.prefix + ".{stream}", TLS: TLS{CAFile: pki.CA}})
		var err error
		testutil.Eventually(t, 10*time.Second, func() bool {
			err = anonymous.Deliver(ctx, records("tls", 3))
			return err != nil && anonymous.nc.LastError() != nil
		}, "a connection without the client's certificate is not reported")
		wholeBatch(t, err)
		t.Logf("without the client certificate: %v", err)
	})
}
