package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestCrash: an oracle sends events with unique ids in durable mode over
// many connections and records every acknowledged id; the server is killed
// with SIGKILL at a random moment and restarted on the same data; every
// acknowledged id must be in the log exactly once with its data byte for
// byte. Then the requests that had no answer are sent again, as a client
// would retry them: still every id at most once.
func TestCrash(t *testing.T) {
	rounds := 3
	if full {
		rounds = 20
	}
	t.Run("SQLite", func(t *testing.T) {
		dir := t.TempDir()
		testCrash(t, "crash/sqlite", rounds, nil, "--data", dir)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		url, schema := testutil.PostgresSchema(t)
		testCrash(t, "crash/postgres", rounds, []string{"SLUICE_STORE=" + url, "SLUICE_POSTGRES_SCHEMA=" + schema}, "--data", t.TempDir())
	})
	t.Run("JetStream", func(t *testing.T) {
		testCrash(t, "crash/jetstream", rounds, jetStreamEnv(natsCluster(t), "crash"), "--data", t.TempDir())
	})
}

// crashConns is how many connections the oracle sends over.
const crashConns = 32

func testCrash(t *testing.T, scenario string, rounds int, env []string, args ...string) {
	r := report(t, scenario)
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var total verdict
	var maxRestart time.Duration
	retried := 0
	for round := range rounds {
		o := newOracle()
		s := startServer(t, env, args...)
		l := &loader{base: s.base, typ: fmt.Sprintf("crash.r%d", round), conns: crashConns, maxBatch: 20, padBytes: 16 + rnd.IntN(200), oracle: o}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); l.run(ctx) }()
		// A random moment: the sleep lets it pass, it waits for nothing.
		time.Sleep(300*time.Millisecond + rand.N(2*time.Second))
		s.Kill()
		cancel()
		<-done

		s = startServer(t, env, args...)
		maxRestart = max(maxRestart, s.Started)
		v := o.check(t, readLog(t, s.base, typeFilter(l.typ)))
		t.Logf("round %d: %d acknowledged, %d found, %d missing, %d duplicates, %d corrupt; %d sent without an answer, %d of them stored; restart %s",
			round, v.acked, v.found, v.missing, v.duplicates, v.corrupt, len(o.unacked), v.unackedStored, roundDuration(s.Started))

		// A client retries what had no answer: the log must still hold
		// each id once.
		retried += retry(t, s.base, l.typ, o)
		v2 := o.check(t, readLog(t, s.base, typeFilter(l.typ)))
		s.Stop(t)

		total.acked += v.acked
		total.found += v.found
		total.missing += v.missing + v2.missing
		total.duplicates += v.duplicates + v2.duplicates
		total.corrupt += v.corrupt + v2.corrupt
		total.unackedStored += v.unackedStored
		if t.Failed() {
			break
		}
	}
	r.add(t, "rounds", rounds)
	r.add(t, "acked", total.acked)
	r.add(t, "found", total.found)
	r.add(t, "missing", total.missing)
	r.add(t, "duplicates", total.duplicates)
	r.add(t, "corrupt", total.corrupt)
	r.add(t, "unacked_stored", total.unackedStored)
	r.add(t, "retried", retried)
	r.add(t, "max_restart", maxRestart)
}

// retry sends again, one event a request, every event that had no answer,
// until each is acknowledged; it returns how many it sent.
func retry(t *testing.T, base, typ string, o *oracle) int {
	t.Helper()
	o.mu.Lock()
	var evs []event
	for id, data := range o.unacked {
		evs = append(evs, event{ID: id, Type: typ, Data: data})
	}
	o.mu.Unlock()
	c := newClient(1, 30*time.Second)
	for _, e := range evs {
		testutil.Eventually(t, 30*time.Second, func() bool {
			body, _ := jsonMarshal(e)
			return o.record([]event{e}, do(context.Background(), c, "POST", ingestURL(base), writeKey, body))
		}, "a retried event is acknowledged")
	}
	return len(evs)
}
