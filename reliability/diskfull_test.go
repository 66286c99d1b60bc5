package reliability

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testutil"
)

// TestDiskFull: the embedded store's directory is on a 48 MiB tmpfs that
// fills up under load. Ingest must answer 503 storage_full with
// Retry-After; once space is freed, ingest succeeds again without a
// restart, and every acknowledged event is in the log.
func TestDiskFull(t *testing.T) {
	r := report(t, "diskfull/sqlite")
	dir := testutil.MountTmpfs(t, "48m")
	data := filepath.Join(dir, "data")
	s := startServer(t, nil, "--data", data)

	// A filler leaves about 8 MiB for the log.
	filler := filepath.Join(dir, "filler")
	if err := writeFiller(filler, 40<<20); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}

	o := newOracle()
	l := &loader{base: s.base, typ: "diskfull", conns: 8, maxBatch: 50, padBytes: 512, oracle: o, start: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	go func() { defer close(loaded); l.run(ctx) }()
	defer func() { cancel(); <-loaded }()

	// Ingest until the answers are 503 storage_full.
	full := 0
	if !poll(60*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		full = 0
		for _, s := range l.samples {
			if s.status == http.StatusServiceUnavailable && s.code() == "storage_full" && s.retryAfter != "" {
				full++
			}
		}
		return full >= 100
	}) {
		t.Fatalf("ingest does not answer 503 storage_full within 60s of filling the disk; answers: %v; server log:\n%.3000s", l.summary(), s.log)
	}
	fullAt := time.Since(l.start)
	time.Sleep(time.Second) // the disk stays full a while under load

	// Free space: ingest succeeds again, without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Since(l.start)
	var resumed time.Duration
	testutil.Eventually(t, 30*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, s := range l.samples[max(0, len(l.samples)-200):] {
			if s.when-s.took > freed && s.status == http.StatusOK {
				resumed = s.when - freed
				return true
			}
		}
		return false
	}, "ingest succeeds again once space is freed")
	time.Sleep(time.Second) // load after the space is freed
	cancel()
	<-loaded

	// Every answer was 200, or 503 storage_full.
	statuses := map[int]int{}
	other := 0
	full = 0
	l.mu.Lock()
	for _, s := range l.samples {
		statuses[s.status]++
		if s.status == http.StatusServiceUnavailable && s.code() == "storage_full" && s.retryAfter != "" {
			full++
		} else if s.status != http.StatusOK {
			other++
			if other <= 5 {
				t.Errorf("answer %d %v %s", s.status, s.err, s.body)
			}
		}
	}
	total := len(l.samples)
	l.mu.Unlock()

	v := o.check(t, readLog(t, s.base, typeFilter(l.typ)))
	s.Stop(t)
	// And after a restart too.
	s = startServer(t, nil, "--data", data)
	v2 := o.check(t, readLog(t, s.base, typeFilter(l.typ)))

	r.add(t, "tmpfs", "48MiB")
	r.add(t, "requests", total)
	r.add(t, "ok", statuses[http.StatusOK])
	r.add(t, "storage_full", full)
	r.add(t, "other", other)
	r.add(t, "full_after", fullAt)
	r.add(t, "resumed_after", resumed)
	r.add(t, "acked", v.acked)
	r.add(t, "missing", v.missing+v2.missing)
	r.add(t, "duplicates", v.duplicates+v2.duplicates)
}

// writeFiller writes a file of n bytes (less when the disk fills first).
func writeFiller(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for ; n > 0; n -= len(buf) {
		if _, err = f.Write(buf[:min(n, len(buf))]); err != nil {
			break
		}
	}
	return errors.Join(err, f.Close())
}
