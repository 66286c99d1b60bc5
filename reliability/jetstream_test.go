package reliability

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/testutil/natstest"
)

// natsServer is the nats-server binary of the module that go.mod names
// (Debian's is too old for atomic batches), built once by natsCluster.
var (
	natsServerOnce sync.Once
	natsServer     string
	natsServerErr  error
)

// natsCluster starts a JetStream cluster of three nats-server processes,
// killed when the test ends.
func natsCluster(t *testing.T) *natstest.Procs {
	t.Helper()
	natsServerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-nats-")
		if err != nil {
			natsServerErr = err
			return
		}
		natsServer, natsServerErr = natstest.BuildServer(dir) // left for the OS: the run's other tests share it
	})
	if natsServerErr != nil {
		t.Fatal(natsServerErr)
	}
	return natstest.StartProcs(t, natsServer, 3)
}

// jetStreamEnv selects the JetStream store named name on the cluster.
func jetStreamEnv(c *natstest.Procs, name string) []string {
	return []string{"SLUICE_STORE=" + c.URLs(), "SLUICE_JETSTREAM_NAME=" + name}
}

// TestJetStreamCluster: two sluice processes share a JetStream log on a
// 3-node R3 cluster while loaders ingest through both, contenders append
// to one stream under expected versions and a reader follows the log.
// One JetStream node is killed with SIGKILL, brought back, then the log's
// leader is killed. Every acknowledged event must be in the log once, the
// reader must never see a gap, each expected version must have one winner,
// and ingest must resume on the new leader by itself, answering 503 (not
// dropping connections) meanwhile.
func TestJetStreamCluster(t *testing.T) {
	r := report(t, "jetstream/cluster")
	c := natsCluster(t)
	const name = "cluster"
	env := jetStreamEnv(c, name)
	a := startServer(t, env, "--data", t.TempDir())
	b := startServer(t, env, "--data", t.TempDir())
	stream := name + "_log"

	o := newOracle()
	start := time.Now()
	loaders := []*loader{
		{base: a.base, typ: "jsc.a", conns: 8, maxBatch: 20, padBytes: 64, oracle: o, start: start},
		{base: b.base, typ: "jsc.b", conns: 8, maxBatch: 20, padBytes: 64, oracle: o, start: start},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, l := range loaders {
		wg.Go(func() { l.run(ctx) })
	}
	k := newContest("contested")
	for i := range 4 {
		base := []string{a.base, b.base}[i%2]
		wg.Go(func() { k.run(ctx, base, fmt.Sprintf("c%d", i)) })
	}
	f := &follower{base: b.base}
	followCtx, stopFollowing := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() { defer close(followed); f.run(followCtx) }()

	// waitAcked waits until the loaders have had another n answers of 200.
	waitAcked := func(n int, what string) {
		from := o.ackedCount()
		testutil.Eventually(t, time.Minute, func() bool { return o.ackedCount() >= from+n }, what)
	}
	waitAcked(2000, "ingest before the kills")

	var leader string
	testutil.Eventually(t, 30*time.Second, func() bool { leader = c.StreamLeader(stream); return leader != "" }, "the log has a leader")
	follower := (c.Index(leader) + 1) % 3
	t.Logf("killing %s (a follower; %s leads)", c.Name(follower), leader)
	c.Kill(follower)
	waitAcked(2000, "ingest with a follower killed")
	c.Start(follower)
	testutil.Eventually(t, time.Minute, func() bool { return c.Current(stream) }, "the restarted follower catches up")

	testutil.Eventually(t, 30*time.Second, func() bool { leader = c.StreamLeader(stream); return leader != "" }, "the log has a leader")
	t.Logf("killing %s (the leader)", leader)
	killed := time.Since(start)
	c.Kill(c.Index(leader))
	waitAcked(2000, "ingest resumes on a new leader")
	stopAt := time.Since(start)
	cancel()
	wg.Wait()
	c.Start(c.Index(leader))

	// The reader reaches the end of the log.
	head := logHead(t, a.base)
	testutil.Eventually(t, time.Minute, func() bool { return f.last() >= head }, "the reader reaches the log's head")
	stopFollowing()
	<-followed

	v := o.check(t, readLog(t, a.base, ""))
	resumed, statuses, dropped := outage(loaders, killed)
	if dropped > 0 {
		t.Errorf("%d requests had no answer from sluice (a dropped connection) while JetStream was failing over", dropped)
	}
	for status, n := range statuses {
		if status != http.StatusOK && status != http.StatusServiceUnavailable {
			t.Errorf("%d answers of %d while JetStream was failing over; want 200 or 503", n, status)
		}
	}
	if resumed < 0 || resumed > resumeBound {
		t.Errorf("ingest resumed %s after the leader was killed, want within %s", resumed, resumeBound)
	}
	if f.gap != "" {
		t.Error(f.gap)
	}
	k.check(t, a.base)
	t.Logf("%d acknowledged, %d missing, %d duplicates; after the leader's kill: first 200 after %s, answers %v; contenders: %s; reader at %d of %d",
		v.acked, v.missing, v.duplicates, roundDuration(resumed), statuses, k.answers(), f.last(), head)
	if t.Failed() {
		t.Logf("the log of sluice a:\n%s\nthe log of sluice b:\n%s", a.log, b.log)
	}
	r.add(t, "acked", v.acked)
	r.add(t, "missing", v.missing)
	r.add(t, "duplicates", v.duplicates)
	r.add(t, "resumed_after", roundDuration(resumed))
	r.add(t, "refused_503", statuses[http.StatusServiceUnavailable])
	r.add(t, "gaps", map[bool]int{true: 1, false: 0}[f.gap != ""])
	r.add(t, "duration", roundDuration(stopAt))
}

// resumeBound is how soon ingest must resume after the log's leader is
// killed: a Raft election (nats-server waits 4–9 s before it calls one)
// plus the store's appendTimeout for the commits caught in it, with room for
// a loaded machine.
const resumeBound = 30 * time.Second

// outage looks at the loaders' answers after at: how long until the first
// 200 (-1 if none), how many of each status came before it, and how many
// requests had no answer at all.
func outage(ls []*loader, at time.Duration) (resumed time.Duration, statuses map[int]int, dropped int) {
	resumed, statuses = -1, map[int]int{}
	first := time.Duration(-1)
	for _, l := range ls {
		l.mu.Lock()
		for _, s := range l.samples {
			if s.when < at || s.status != http.StatusOK {
				continue
			}
			if first < 0 || s.when < first {
				first = s.when
			}
		}
		l.mu.Unlock()
	}
	if first < 0 {
		first = time.Duration(1<<63 - 1)
	} else {
		resumed = first - at
	}
	for _, l := range ls {
		l.mu.Lock()
		for _, s := range l.samples {
			if s.when < at || s.when > first {
				continue
			}
			if s.err != nil {
				dropped++
				continue
			}
			statuses[s.status]++
		}
		l.mu.Unlock()
	}
	return resumed, statuses, dropped
}

// ackedCount is how many ids the oracle has seen acknowledged.
func (o *oracle) ackedCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.acked)
}

// follower reads the log from the start over HTTP, page after page, as a
// projection would, and remembers the first gap or repeat it sees.
type follower struct {
	base string
	mu   sync.Mutex
	at   uint64
	gap  string
}

func (f *follower) last() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at
}

func (f *follower) run(ctx context.Context) {
	c := newClient(1, 30*time.Second)
	for ctx.Err() == nil {
		a := do(ctx, c, "GET", fmt.Sprintf("%s/v1/events?after=%d&limit=1000", f.base, f.last()), adminKey, nil)
		if a.err != nil || a.status != http.StatusOK {
			time.Sleep(20 * time.Millisecond) // pace retries while the store is failing over
			continue
		}
		var page struct {
			Events []storedEvent `json:"events"`
		}
		if json.Unmarshal(a.body, &page) != nil {
			continue
		}
		f.mu.Lock()
		for _, e := range page.Events {
			if e.Position != f.at+1 && f.gap == "" {
				f.gap = fmt.Sprintf("the reader saw position %d after %d: a gap or a repeat", e.Position, f.at)
			}
			f.at = e.Position
		}
		f.mu.Unlock()
		if len(page.Events) == 0 {
			time.Sleep(20 * time.Millisecond) // a reader at the head polls; this one is a test's
		}
	}
}

// contest is several clients appending to one stream, each under the
// version it last saw: every version may have one winner only.
type contest struct {
	stream string
	mu     sync.Mutex
	won    map[uint64]string // version → the id of the event answered 200
	twice  []string
	codes  map[string]int // answers: "200", "409", "503", "no answer"…
}

func newContest(stream string) *contest {
	return &contest{stream: stream, won: map[uint64]string{}, codes: map[string]int{}}
}

func (k *contest) run(ctx context.Context, base, who string) {
	c := newClient(1, 30*time.Second)
	v := uint64(0)
	for n := 0; ctx.Err() == nil; n++ {
		id := fmt.Sprintf("%s-%d", who, n)
		body, _ := json.Marshal([]event{{ID: id, Type: "contest", Data: json.RawMessage(`{}`)}})
		a := do(ctx, c, "POST", fmt.Sprintf("%s/v1/streams/%s/events?expected_version=%d", base, k.stream, v), writeKey, body)
		k.count(a)
		switch {
		case a.err == nil && a.status == http.StatusCreated:
			k.mu.Lock()
			if prev, ok := k.won[v+1]; ok {
				k.twice = append(k.twice, fmt.Sprintf("version %d won by %s and by %s", v+1, prev, id))
			}
			k.won[v+1] = id
			k.mu.Unlock()
			v++
		case a.err == nil && a.status == http.StatusConflict:
			var p struct {
				CurrentVersion *uint64 `json:"current_version"`
			}
			if json.Unmarshal(a.body, &p) == nil && p.CurrentVersion != nil {
				v = *p.CurrentVersion
			}
		default:
			time.Sleep(20 * time.Millisecond) // pace retries while the store is failing over
		}
	}
}

// count files an answer under its code, or its status when it has none.
func (k *contest) count(a answer) {
	key := cmp.Or(a.code(), strconv.Itoa(a.status))
	if a.err != nil {
		key = "no answer"
	}
	k.mu.Lock()
	k.codes[key]++
	k.mu.Unlock()
}

// answers sums up the contenders' answers.
func (k *contest) answers() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return fmt.Sprintf("%d versions won, answers %v", len(k.won), k.codes)
}

// check reads the stream: each version's event must be the one its winner
// sent.
func (k *contest) check(t *testing.T, base string) {
	t.Helper()
	for _, s := range k.twice {
		t.Error(s)
	}
	type streamEvent struct {
		ID      string `json:"id"`
		Version uint64 `json:"version"`
	}
	var evs []streamEvent
	c := newClient(1, time.Minute)
	for {
		u := fmt.Sprintf("%s/v1/streams/%s/events?from_version=%d&limit=1000", base, k.stream, len(evs)+1)
		a := do(context.Background(), c, "GET", u, adminKey, nil)
		if a.err != nil || a.status != http.StatusOK {
			t.Fatalf("GET %s: %d %v %s", u, a.status, a.err, a.body)
		}
		var page struct {
			Events []streamEvent `json:"events"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Events) == 0 {
			break
		}
		evs = append(evs, page.Events...)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, e := range evs {
		if e.Version != uint64(i+1) {
			t.Fatalf("the contested stream's event %d has version %d", i, e.Version)
		}
		if id, ok := k.won[e.Version]; ok && id != e.ID {
			t.Errorf("version %d holds %s, but %s was answered 200 for it", e.Version, e.ID, id)
		}
	}
	for v := range k.won {
		if v > uint64(len(evs)) {
			t.Errorf("version %d was answered 200 but the stream ends at %d", v, len(evs))
		}
	}
}

// logHead is the position of the log's last event.
func logHead(t *testing.T, base string) uint64 {
	t.Helper()
	evs := readLog(t, base, "")
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Position
}
