package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sink/s3"
)

// The binary's archive verify, on an archive in gofakes3 written by the s3
// sink: ok and exit 0 on a good one; each problem and exit 1 on a gap, an
// overlap (unless allowed) or a corrupt object.
func TestArchiveVerify(t *testing.T) {
	backend := s3mem.New()
	for _, b := range []string{"good", "gap", "overlap", "corrupt", "uploads"} {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0)).Server())
	defer srv.Close()
	dir := t.TempDir()
	config := func(bucket string) string {
		path := filepath.Join(dir, bucket+".yaml")
		yaml := fmt.Sprintf("sinks:\n  - {name: archive, type: s3, bucket: %s, prefix: events, endpoint: %q, path_style: true, access_key_id: k, secret_access_key: s}\n  - {name: other, type: file, path: %q}\n",
			bucket, srv.URL, filepath.Join(dir, "out.ndjson"))
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write := func(bucket string, ranges ...[2]int) {
		cfg := &s3.Config{Bucket: bucket, Prefix: "events", PathStyle: true, AWS: awsconf.Config{Endpoint: srv.URL, AccessKeyID: "k", SecretAccessKey: "s"}}
		s, err := cfg.Open(context.Background(), sink.Env{Name: "archive", Node: "node-1"})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for _, r := range ranges {
			var recs []sluice.SinkRecord
			for p := r[0]; p <= r[1]; p++ {
				ev := &sluice.Event{ID: fmt.Sprint(p), Type: "t", Stream: "s", Position: sluice.Position(p), RecordedAt: time.Now(), Data: json.RawMessage(`{}`)}
				recs = append(recs, sluice.SinkRecord{Event: ev, Body: ev.AppendJSON(nil)})
			}
			if err := s.Deliver(context.Background(), recs); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("good", [2]int{1, 10}, [2]int{11, 12})
	write("gap", [2]int{1, 10}, [2]int{14, 20})
	write("overlap", [2]int{1, 10}, [2]int{1, 12})
	write("corrupt", [2]int{1, 10})
	write("uploads", [2]int{1, 10})
	// An upload started and never completed nor aborted (a crash).
	resp, err := http.Post(srv.URL+"/uploads/events/date=2026-01-01/hour=00/x?uploads", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("start an upload: %v %v", resp, err)
	}
	resp.Body.Close()
	// A second object with the name of positions 11-12 but no gzip in it.
	putRaw(t, srv.URL, "corrupt", s3.ObjectName{Hour: time.Now().UTC().Truncate(time.Hour), First: 11, Last: 12, Node: "node-1"}.Key("events"), []byte("not gzip"))

	run := func(args ...string) (string, int) {
		var out bytes.Buffer
		cmd := exec.Command(binary, append([]string{"archive", "verify"}, args...)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return out.String(), exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), 0
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"Good", []string{"--config", config("good")}, 0, []string{"verified 2 of 2 objects", "sink archive (s3://good/events): 2 objects", "12 events, positions 1 to 12: ok"}},
		{"Gap", []string{"--config", config("gap")}, 1, []string{"gap: events/date=", "positions 11 to 13 are in no object", ": 1 problem(s)", "sluice: archive verify sink archive (s3://gap/events): 1 problem(s)"}},
		{"GapAllowed", []string{"--config", config("gap"), "--allow-gaps"}, 0, []string{"1 problem(s), all allowed"}},
		{"Overlap", []string{"--config", config("overlap"), "--sink", "archive"}, 1, []string{"overlap: events/date=", "all its positions, 1 to 10, are also in"}},
		{"OverlapAllowed", []string{"--config", config("overlap"), "--allow-overlaps"}, 0, []string{"positions 1 to 12: 1 problem(s), all allowed"}},
		{"Corrupt", []string{"--config", config("corrupt"), "--allow-gaps", "--allow-overlaps"}, 1, []string{"corrupt: events/date=", "00000000000000000011_00000000000000000012_node-1.ndjson.gz: corrupt object: "}},
		{"IncompleteUpload", []string{"--config", config("uploads")}, 0, []string{"note: 1 multipart upload(s) under the prefix were never completed", "positions 1 to 10: ok"}},
		{"NoSuchSink", []string{"--config", config("good"), "--sink", "other"}, 2, []string{`no s3 sink called "other"`}},
		{"NoConfig", nil, 2, []string{"--config FILE"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output without %q:\n%s", w, out)
				}
			}
		})
	}
}

// putRaw stores body under key in the bucket of the fake S3 at base, as
// it is (gofakes3 checks no signature).
func putRaw(t *testing.T, base, bucket, key string, body []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, base+"/"+bucket+"/"+key, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("put %s: %s", key, resp.Status)
	}
}
