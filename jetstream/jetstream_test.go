package jetstream_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
