package reliability

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// outageAnswerP99 bounds the 99th percentile of the time to answer an
// ingest request while the database is down: "503 quickly".
const outageAnswerP99 = 500 * time.Millisecond

// TestOutage: the machine's PostgreSQL is stopped for 10 s under load.
// Requests during the outage get 503 store_unavailable with Retry-After,
// quickly; /readyz says 503; once the database is back, ingest resumes by
// itself, and every acknowledged event is in the log.
//
// It stops the real server: it must never run beside other PostgreSQL
// tests (make reliability runs after make test, with -p 1).
func TestOutage(t *testing.T) {
	r := report(t, "outage/postgres")
	url, schema := testutil.PostgresSchema(t)
	cluster := pgCluster(t)
	// Registered after PostgresSchema, so it runs before the schema is
	// dropped: PostgreSQL is always started again.
	t.Cleanup(func() {
		if err := pgctl(cluster, "start"); err != nil {
			t.Errorf("start PostgreSQL again: %v", err)
		}
		testutil.Eventually(t, 60*time.Second, func() bool {
			return exec.Command("pg_isready", "-q", "-h", "127.0.0.1").Run() == nil
		}, "PostgreSQL accepts connections again")
	})
	outage := 10 * time.Second

	s := startServer(t, []string{"SLUICE_STORE=" + url, "SLUICE_POSTGRES_SCHEMA=" + schema}, "--data", t.TempDir())
	o := newOracle()
	l := &loader{base: s.base, typ: "outage", conns: 16, maxBatch: 5, padBytes: 64, oracle: o, start: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	go func() { defer close(loaded); l.run(ctx) }()
	defer func() { cancel(); <-loaded }()

	time.Sleep(2 * time.Second) // load before the outage
	if err := pgctl(cluster, "stop"); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	down := time.Since(l.start)

	// While it is down: /readyz every 100 ms.
	ready := map[int]int{}
	var readyMu sync.Mutex
	pollCtx, stopPolling := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		c := newClient(1, 5*time.Second)
		for pollCtx.Err() == nil {
			a := do(pollCtx, c, "GET", s.base+"/readyz", "", nil)
			if pollCtx.Err() == nil {
				readyMu.Lock()
				ready[a.status]++
				readyMu.Unlock()
			}
			time.Sleep(100 * time.Millisecond) // paces the probe
		}
	}()
	time.Sleep(outage) // the outage lasts this long
	stopPolling()
	<-polled
	upBegin := time.Since(l.start)
	if err := pgctl(cluster, "start"); err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	up := time.Since(l.start)

	// Ingest resumes by itself.
	var resumed time.Duration
	testutil.Eventually(t, 30*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, s := range l.samples[max(0, len(l.samples)-200):] {
			if s.when > up && s.status == http.StatusOK {
				resumed = s.when - up
				return true
			}
		}
		return false
	}, "ingest succeeds again after PostgreSQL is back")
	testutil.Eventually(t, 10*time.Second, func() bool {
		return do(context.Background(), newClient(1, 5*time.Second), "GET", s.base+"/readyz", "", nil).status == http.StatusOK
	}, "/readyz answers 200 again")
	time.Sleep(2 * time.Second) // load after the outage
	cancel()
	<-loaded

	// The answers given while the database was down.
	var during []time.Duration
	statuses := map[int]int{}
	badAnswers := 0
	l.mu.Lock()
	for _, s := range l.samples {
		if s.when-s.took < down || s.when > upBegin {
			continue // sent before the outage, or answered after it
		}
		during = append(during, s.took)
		statuses[s.status]++
		if s.status == http.StatusOK {
			continue
		}
		if s.status != http.StatusServiceUnavailable || s.retryAfter == "" || s.code() != "store_unavailable" {
			badAnswers++
			if badAnswers <= 5 {
				t.Errorf("during the outage: %d %v Retry-After %q %s", s.status, s.err, s.retryAfter, s.body)
			}
		}
	}
	total := len(l.samples)
	l.mu.Unlock()
	p99 := percentile(during, 99)
	if p99 > outageAnswerP99 {
		t.Errorf("during the outage the p99 answer took %s, want at most %s", p99, outageAnswerP99)
	}
	if ready[http.StatusOK] > 0 || ready[http.StatusServiceUnavailable] == 0 {
		t.Errorf("/readyz during the outage answered %v, want only 503", ready)
	}
	v := o.check(t, readLog(t, s.base, typeFilter(l.typ)))

	r.add(t, "outage", outage)
	r.add(t, "requests", total)
	r.add(t, "during", len(during))
	r.add(t, "during_503", statuses[http.StatusServiceUnavailable])
	r.add(t, "during_other", badAnswers)
	r.add(t, "during_p99", p99)
	r.add(t, "readyz_503", ready[http.StatusServiceUnavailable])
	r.add(t, "resumed_after", resumed)
	r.add(t, "acked", v.acked)
	r.add(t, "missing", v.missing)
	r.add(t, "duplicates", v.duplicates)
}

// pgCluster returns the version of the machine's PostgreSQL cluster (the
// directory in /etc/postgresql), or skips the test (fails it under CI)
// when there is none.
func pgCluster(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(entries) != 1 {
		if os.Getenv("CI") != "" {
			t.Fatalf("no single PostgreSQL cluster in /etc/postgresql (%v): the outage test must run in CI", err)
		}
		t.Skipf("no single PostgreSQL cluster in /etc/postgresql (%v): skipping the outage test", err)
	}
	if _, err := exec.LookPath("pg_ctlcluster"); err != nil {
		t.Skipf("no pg_ctlcluster: %v", err)
	}
	return entries[0].Name()
}

// pgctl starts or stops the cluster ("stop" is the fast mode: sessions are
// cut, transactions rolled back).
func pgctl(cluster, action string) error {
	args := []string{"--skip-systemctl-redirect", cluster, "main", action}
	if action == "stop" {
		args = append(args, "-m", "fast")
	}
	out, err := exec.Command("pg_ctlcluster", args...).CombinedOutput()
	if err != nil && action == "start" && strings.Contains(string(out), "already running") {
		return nil
	}
	if err != nil {
		return &pgctlError{action: action, out: string(out), err: err}
	}
	return nil
}

type pgctlError struct {
	action, out string
	err         error
}

func (e *pgctlError) Error() string {
	return "pg_ctlcluster " + e.action + ": " + e.err.Error() + ": " + e.out
}
