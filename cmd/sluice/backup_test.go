package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sqlite"
)

// TestBackup_UnderLoad: writers keep ingesting over HTTP into the real
// binary while `sluice backup --server` takes a backup; `sluice restore`
// makes a data directory of it that holds every event acknowledged before
// the backup began, in an unbroken log, and that works: reads, appends,
// dedupe.
func TestBackup_UnderLoad(t *testing.T) {
	t.Parallel()
	data, dest, restored := t.TempDir(), filepath.Join(t.TempDir(), "backup"), filepath.Join(t.TempDir(), "restored")
	srv := testutil.StartSluice(t, binary, []string{"SLUICE_ADMIN_KEY=" + testAdminKey, "SLUICE_WRITE_KEY=" + testWriteKey}, "--data", data)

	var mu sync.Mutex
	var acked []string // ids acknowledged, in the order their answers came
	var slowest time.Duration
	var failure error
	ctx, stop := context.WithCancel(context.Background())
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				var body bytes.Buffer
				ids := make([]string, 50)
				body.WriteByte('[')
				for i := range ids {
					ids[i] = fmt.Sprintf("w%d-%d-%d", w, n, i)
					if i > 0 {
						body.WriteByte(',')
					}
					fmt.Fprintf(&body, `{"id":%q,"type":"load","stream":"w-%d","data":{"n":%d}}`, ids[i], w, i)
				}
				body.WriteByte(']')
				req, _ := http.NewRequest(http.MethodPost, srv.Base+"/v1/events", &body)
				req.Header.Set("Authorization", "Bearer "+testWriteKey)
				req.Header.Set("Content-Type", "application/json")
				begin := time.Now()
				resp, err := http.DefaultClient.Do(req)
				took := time.Since(begin)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				mu.Lock()
				if err != nil && ctx.Err() == nil {
					failure = err
				}
				if err == nil {
					acked = append(acked, ids...)
					slowest = max(slowest, took)
				}
				mu.Unlock()
			}
		})
	}
	ackedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	testutil.Eventually(t, 60*time.Second, func() bool { return ackedNow() >= 20_000 }, "20,000 events acknowledged")

	before := ackedNow()
	mu.Lock()
	slowest = 0
	mu.Unlock()
	out, err := exec.Command(binary, "backup", "--server", srv.Base, "--key", testAdminKey, dest).CombinedOutput()
	if err != nil {
		t.Fatalf("sluice backup: %v\n%s", err, out)
	}
	during := ackedNow() - before
	mu.Lock()
	duringSlowest := slowest
	mu.Unlock()
	testutil.Eventually(t, 30*time.Second, func() bool { return ackedNow() >= before+during+1000 }, "writers going on after the backup")
	stop()
	writers.Wait()
	srv.Stop(t)
	if failure != nil {
		t.Fatalf("a writer failed: %v", failure)
	}
	t.Logf("backup: %s; %d events acknowledged before it, %d while it ran (slowest answer meanwhile %s)", strings.TrimSpace(string(out)), before, during, duringSlowest)

	if out, err := exec.Command(binary, "restore", dest, "--data", restored).CombinedOutput(); err != nil {
		t.Fatalf("sluice restore: %v\n%s", err, out)
	}
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: restored})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bg := context.Background()
	found := map[string]bool{}
	var last sluice.Position
	for {
		evs, err := s.ReadLog(bg, last, sluice.Filter{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			if e.Position != last+1 {
				t.Fatalf("the restored log has position %d after %d", e.Position, last)
			}
			found[e.ID], last = true, e.Position
		}
	}
	mu.Lock()
	for _, id := range acked[:before] {
		if !found[id] {
			t.Errorf("event %s, acknowledged before the backup began, is not in it", id)
		}
	}
	dup := acked[0]
	mu.Unlock()
	res, err := s.Append(bg, []sluice.AppendRequest{{Events: []sluice.Event{
		{ID: dup, Type: "load", Data: json.RawMessage(`{}`)},
		{ID: "after-restore", Type: "load", Stream: "w-0", Data: json.RawMessage(`{}`)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if a := res[0].Events[0]; !a.Duplicate {
		t.Errorf("an id in the backup appended again: %+v, want a duplicate", a)
	}
	if a := res[0].Events[1]; a.Duplicate || a.Position != last+1 {
		t.Errorf("a new event: %+v, want position %d", a, last+1)
	}
	evs, err := s.ReadStream(bg, "w-0", sluice.ReadStreamOptions{Backward: true, Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].ID != "after-restore" {
		t.Errorf("the stream's last event: %v, %v", evs, err)
	}
}
