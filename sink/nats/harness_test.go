package nats

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice/sinktest"
)

// harnessMaxMsg is the max_msg_size of the harness's streams: the proxy
// pads a refused message past it.
const harnessMaxMsg = 64 << 10

// newHarness is the nats sink for the conformance suite: a stream of the
// test's own on the machine's server, behind a fault-injecting proxy. The
// proxy hides the Nats-Msg-Id header from JetStream, so that the stream
// keeps every delivery as the suite counts them, a replay's included
// (JetStream would store a re-send within its dedupe window, 2m by
// default, once; its shortest is 100ms).
func newHarness(t *testing.T) sinktest.Harness {
	url := systemURL(t)
	ts := newTestStream(t, url, jetstream.StreamConfig{MaxMsgSize: harnessMaxMsg})
	p := startProxy(t, url, "sluicetest.unbound."+randomName(), harnessMaxMsg, true)
	subject := ts.prefix + ".{stream}"
	f := ts.follow(t)
	return sinktest.Harness{
		Destination: &Config{URL: p.url, Subject: subject},
		Fields:      map[string]any{"type": "nats", "url": p.url, "subject": subject},
		Received:    f.received,
		Outage:      func(_ testing.TB, on bool) { p.outage(on) },
		Refuse:      func(_ testing.TB, ids []string) { p.refuse(ids) },
		Flaky:       func(_ testing.TB, ids []string, times int) { p.setFlaky(ids, times) },
	}
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, newHarness, sinktest.Features{RecordRefusals: true})
}
