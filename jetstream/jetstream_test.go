package jetstream_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil/natstest"
	"github.com/sluicehq/sluice/jetstream"
	"github.com/sluicehq/sluice/storetest"
)

// logs numbers the logs of one test binary: each gets a Name of its own on
// the shared servers.
var logs atomic.Int64

// newLog makes a fresh log on the servers at url: every Opener call opens
// another Store on it, as another process would.
func newLog(url func() string, replicas int) storetest.NewLog {
	return func(tb testing.TB) storetest.Opener {
		name := fmt.Sprintf("t%d", logs.Add(1))
		return func(tb testing.TB) sluice.Store {
			tb.Helper()
			s, err := jetstream.Open(context.Background(), jetstream.Options{URL: url(), Name: name, Replicas: replicas})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		}
	}
}

func TestConformance(t *testing.T) {
	t.Run("Single", func(t *testing.T) {
		c := natstest.Single(t)
		storetest.Run(t, newLog(c.URLs, 1), storetest.Features{SharedAccess: true})
	})
	t.Run("ClusterR3", func(t *testing.T) {
		if testing.Short() {
			t.Skip("a 3-node cluster")
		}
		c := natstest.Start(t, 3)
		storetest.Run(t, newLog(c.URLs, 3), storetest.Features{SharedAccess: true})
	})
}

// TestOpenWhileClusterForms: Open with more replicas than the cluster has
// servers yet is refused by JetStream ("no suitable peers for placement");
// it waits for the servers that are joining instead of failing, as a start
// beside a cluster still forming (or one that missed a server's
// heartbeats) must.
func TestOpenWhileClusterForms(t *testing.T) {
	if testing.Short() {
		t.Skip("a 4-node cluster")
	}
	c := natstest.StartSome(t, 4, 3)
	opened := make(chan error, 1)
	started := time.Now()
	go func() {
		s, err := jetstream.Open(context.Background(), jetstream.Options{URL: c.URLs(), Name: fmt.Sprintf("t%d", logs.Add(1)), Replicas: 4})
		if err == nil {
			s.Close()
		}
		opened <- err
	}()
	// JetStream refuses an R4 stream until the fourth server has joined: a
	// probe shows Open is meeting that refusal now, not after the join.
	nc, err := nats.Connect(c.URLs())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = js.CreateStream(context.Background(), natsjs.StreamConfig{Name: "probe", Subjects: []string{"probe"}, Replicas: 4})
	if err == nil || !strings.Contains(err.Error(), "no suitable peers") {
		t.Fatalf("an R4 stream on three servers: %v, want no suitable peers", err)
	}
	c.StartServer(t, 3)
	if err := <-opened; err != nil {
		t.Fatalf("Open while the cluster formed: %v", err)
	}
	t.Logf("opened %s after the start, the fourth server joining meanwhile", time.Since(started).Round(time.Millisecond))
}
