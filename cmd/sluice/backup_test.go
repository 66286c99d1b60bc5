package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

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
	l := startLoad(t, srv.Base, 20_000)
	before := l.acked()
	l.resetSlowest()
	out, err := exec.Command(binary, "backup", "--server", srv.Base, "--key", testAdminKey, dest).CombinedOutput()
	if err != nil {
		t.Fatalf("sluice backup: %v\n%s", err, out)
	}
	during, slowest := l.acked()-before, l.slowest()
	l.stop(t, before+during+1000)
	srv.Stop(t)
	t.Logf("backup: %s; %d events acknowledged before it, %d while it ran (slowest answer meanwhile %s)", strings.TrimSpace(string(out)), before, during, slowest)

	if out, err := exec.Command(binary, "restore", dest, "--data", restored).CombinedOutput(); err != nil {
		t.Fatalf("sluice restore: %v\n%s", err, out)
	}
	checkRestored(t, restored, l.ids[:before])
}

// TestBackup_S3: `sluice backup --server … s3://BUCKET/PREFIX/` of the
// real binary under load streams one tar object into an in-process S3
// (gofakes3); `sluice restore s3://BUCKET/PREFIX/` picks it, the newest
// backup there, and makes a working data directory holding every event
// acknowledged before the backup began. A backup whose stream the server
// ends early (cleanly after some files, without the trailer, or by
// dropping the connection mid-file) fails and leaves no object and no
// multipart upload; so does a backup --data of a directory without a
// store. A restore of an object that is not a tar, or of a backup cut
// after its first files, fails and leaves the data directory empty. A
// backup --data of the stopped store, restored from its object's URL,
// holds every event acknowledged.
func TestBackup_S3(t *testing.T) {
	t.Parallel()
	fake := testutil.FakeS3(t, "backups")
	noProfile := filepath.Join(t.TempDir(), "none")
	awsEnv := append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_SESSION_TOKEN=", "AWS_REGION=us-east-1",
		"AWS_PROFILE=", "AWS_CONFIG_FILE="+noProfile, "AWS_SHARED_CREDENTIALS_FILE="+noProfile)
	// run runs sluice backup or restore with the flags of the fake S3
	// after DEST or SRC.
	run := func(sub string, args ...string) ([]byte, error) {
		flags := []string{"--endpoint", fake, "--path-style"}
		if sub == "restore" {
			flags = append([]string{args[0]}, flags...)
			args = args[1:]
		}
		cmd := exec.Command(binary, append(append([]string{sub}, flags...), args...)...)
		cmd.Env = awsEnv
		return cmd.CombinedOutput()
	}
	client := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(fake), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
	keys := func(prefix string) []string {
		out, err := client.ListObjectsV2(context.Background(), &awss3.ListObjectsV2Input{Bucket: aws.String("backups"), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, *o.Key)
		}
		return keys
	}
	put := func(key, body string) {
		_, err := client.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String("backups"), Key: aws.String(key), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
	}
	// An older backup (not even a tar) and another object that sorts
	// after the backups: restore must pick neither.
	put("nightly/sluice-backup-20200101T000000.000Z.tar", "old")
	put("nightly/zzz.txt", "not a backup")

	data, restored := t.TempDir(), filepath.Join(t.TempDir(), "restored")
	srv := testutil.StartSluice(t, binary, []string{"SLUICE_ADMIN_KEY=" + testAdminKey, "SLUICE_WRITE_KEY=" + testWriteKey}, "--data", data)
	l := startLoad(t, srv.Base, 10_000)
	before := l.acked()
	out, err := run("backup", "--server", srv.Base, "--key", testAdminKey, "s3://backups/nightly/")
	if err != nil {
		t.Fatalf("sluice backup: %v\n%s", err, out)
	}
	t.Logf("backup: %s", out)
	k := keys("nightly/sluice-backup-2026")
	if len(k) != 1 || !strings.Contains(string(out), "in s3://backups/"+k[0]+":") {
		t.Fatalf("backup objects %q; sluice backup said:\n%s", k, out)
	}
	nightly := k[0]

	for _, cut := range []string{"between-files", "mid-file"} {
		proxy := httptest.NewServer(cutBackup(t, srv.Base, cut))
		out, err := run("backup", "--server", proxy.URL, "--key", testAdminKey, "s3://backups/cut/")
		proxy.Close()
		if err == nil {
			t.Errorf("a backup cut %s succeeded:\n%s", cut, out)
		}
		t.Logf("cut %s: %s", cut, out)
	}
	if out, err := run("backup", "--data", t.TempDir(), "s3://backups/cut/"); err == nil {
		t.Errorf("a backup of no store succeeded:\n%s", out)
	}
	if k := keys("cut/"); len(k) > 0 {
		t.Errorf("interrupted backups left objects %q", k)
	}
	// gofakes3 answers NoSuchUpload for a bucket that never had one.
	var never smithy.APIError
	ups, err := client.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: aws.String("backups")})
	if err != nil && (!errors.As(err, &never) || never.ErrorCode() != "NoSuchUpload") {
		t.Fatal(err)
	}
	if ups != nil && len(ups.Uploads) > 0 {
		t.Errorf("multipart uploads left: %+v", ups.Uploads)
	}
	l.stop(t, before+1000)
	srv.Stop(t)

	// Not a tar, and the backup cut after its first files: a restore
	// fails and leaves the directory empty.
	obj, err := client.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String("backups"), Key: aws.String(nightly)})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	put("cut/truncated.tar", string(whole[:len(whole)-len(whole)/4]))
	bad := filepath.Join(t.TempDir(), "bad")
	for _, key := range []string{"nightly/sluice-backup-20200101T000000.000Z.tar", "cut/truncated.tar"} {
		if out, err := run("restore", "s3://backups/"+key, "--data", bad); err == nil {
			t.Errorf("a restore of %s succeeded:\n%s", key, out)
		}
		if entries, err := os.ReadDir(bad); err != nil || len(entries) > 0 {
			t.Errorf("a failed restore of %s left %v, %v", key, entries, err)
		}
	}
	if out, err := run("restore", "s3://backups/none/", "--data", bad); err == nil || !strings.Contains(string(out), "holds no backup") {
		t.Errorf("a restore from a folder without backups: %v\n%s", err, out)
	}
	if out, err := run("restore", "s3://backups/nightly/", "--data", restored); err != nil {
		t.Fatalf("sluice restore: %v\n%s", err, out)
	}
	checkRestored(t, restored, l.ids[:before])

	// The stopped store, by --data, named by its object's key.
	out, err = run("backup", "--data", data, "s3://backups/stopped")
	if err != nil {
		t.Fatalf("sluice backup --data: %v\n%s", err, out)
	}
	k = keys("stopped/")
	if len(k) != 1 {
		t.Fatalf("backup objects %q", k)
	}
	again := filepath.Join(t.TempDir(), "again")
	if out, err := run("restore", "s3://backups/"+k[0], "--data", again); err != nil {
		t.Fatalf("sluice restore: %v\n%s", err, out)
	}
	checkRestored(t, again, l.ids)
}

// cutBackup is a proxy of the sluice at base whose POST /v1/admin/backup
// ends early, as a server whose backup fails does: between-files passes
// two files on and ends the answer without the trailer; mid-file drops
// the connection in the middle of the second file.
func cutBackup(t *testing.T, base, how string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.Path, nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("proxy: %v", err)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Trailer", "Sluice-Backup")
		w.WriteHeader(resp.StatusCode)
		tr, tw := tar.NewReader(resp.Body), tar.NewWriter(w)
		for i := range 2 {
			h, err := tr.Next()
			if err != nil {
				t.Errorf("proxy: %v", err)
				return
			}
			if err := tw.WriteHeader(h); err != nil {
				return
			}
			n := h.Size
			if i == 1 && how == "mid-file" {
				n /= 2
			}
			if _, err := io.CopyN(tw, tr, n); err != nil {
				return
			}
			if n < h.Size {
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
		}
		_ = tw.Flush()
	})
}

// load is writers ingesting batches of 50 events into a server, each
// waiting for its answer.
type load struct {
	mu      sync.Mutex
	ids     []string // ids acknowledged, in the order their answers came
	slow    time.Duration
	failure error
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startLoad starts 4 writers into the sluice at base, and returns once n
// events are acknowledged.
func startLoad(t *testing.T, base string, n int) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	t.Cleanup(func() { cancel(); l.wg.Wait() })
	for w := range 4 {
		l.wg.Go(func() {
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
				req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", &body)
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
				l.mu.Lock()
				if err != nil && ctx.Err() == nil {
					l.failure = err
				}
				if err == nil {
					l.ids = append(l.ids, ids...)
					l.slow = max(l.slow, took)
				}
				l.mu.Unlock()
			}
		})
	}
	testutil.Eventually(t, 60*time.Second, func() bool { return l.acked() >= n }, fmt.Sprintf("%d events acknowledged", n))
	return l
}

// acked is how many events have been acknowledged.
func (l *load) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

// slowest is the slowest answer since resetSlowest.
func (l *load) slowest() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.slow
}

func (l *load) resetSlowest() {
	l.mu.Lock()
	l.slow = 0
	l.mu.Unlock()
}

// stop waits until n events are acknowledged, stops the writers and fails
// the test if one failed.
func (l *load) stop(t *testing.T, n int) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() bool { return l.acked() >= n }, "writers going on after the backup")
	l.cancel()
	l.wg.Wait()
	if l.failure != nil {
		t.Fatalf("a writer failed: %v", l.failure)
	}
}

// checkRestored opens the data directory dir and checks that its log is
// unbroken, holds every id of want, and works: an id in it is a
// duplicate, a new event goes after its head.
func checkRestored(t *testing.T, dir string, want []string) {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
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
	for _, id := range want {
		if !found[id] {
			t.Errorf("event %s, acknowledged before the backup began, is not in it", id)
		}
	}
	res, err := s.Append(bg, []sluice.AppendRequest{{Events: []sluice.Event{
		{ID: want[0], Type: "load", Data: json.RawMessage(`{}`)},
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
