package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sinktest"
)

const restartKey = "sk_admin_s3test_0123456789"

// binarySink runs the real binary with one s3 sink called archive into d
// under prefix, with the fields given besides d's, its batch (its
// objects) as start says.
type binarySink struct {
	t      *testing.T
	d      *destination
	dir    string
	prefix string
	fields map[string]any
}

// start runs the binary on the test's data with the sink's batch.
func (b *binarySink) start(batch map[string]any) *testutil.Sluice {
	b.t.Helper()
	entry := b.d.fields(b.prefix)
	maps.Copy(entry, b.fields)
	entry["name"], entry["batch"] = "archive", batch
	return sinktest.StartBinary(b.t, b.dir, restartKey, entry)
}

// ingest sends the events to the binary at base, in requests of per.
func ingest(t *testing.T, base string, evs []sluice.Event, per int) {
	t.Helper()
	c := client.New(base, client.WithKey(restartKey))
	for i := 0; i < len(evs); i += per {
		chunk := evs[i:min(i+per, len(evs))]
		if res, err := c.Ingest(context.Background(), chunk); err != nil || res.Accepted != len(chunk) {
			t.Fatalf("ingest: %+v %v", res, err)
		}
	}
}

// events makes n events whose data has pad random characters.
func events(n, pad int) []sluice.Event {
	evs := make([]sluice.Event, n)
	for i := range evs {
		r := records(1, 1, time.Now(), pad)[0].Event
		evs[i] = sluice.Event{ID: fmt.Sprintf("kill-%04d", i), Type: "t", Stream: fmt.Sprintf("s%d", i%3), Data: r.Data}
	}
	return evs
}

// verifyOnce checks that the archive under prefix holds positions 1 to n
// once each, every object whole.
func (b *binarySink) verifyOnce(n int) {
	b.t.Helper()
	rep, err := b.d.archive(b.t, b.prefix).Verify(context.Background(), nil)
	if err != nil || len(rep.Problems) != 0 || rep.First != 1 || rep.Last != sluice.Position(n) || rep.Events != int64(n) {
		b.t.Fatalf("the archive: %+v %v; want positions 1 to %d once each", rep, err, n)
	}
}

// A SIGKILL while an object is open (its records read, lingering) loses
// nothing: nothing was stored or checkpointed, and the restarted binary
// writes the object.
func TestBinary_KillWhileObjectOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	b := &binarySink{t: t, d: newDestination(t), dir: t.TempDir(), prefix: "open"}
	s := b.start(map[string]any{"linger": "1h"})
	ingest(t, s.Base, events(100, 0), 50)
	testutil.Eventually(t, 30*time.Second, func() bool {
		var st struct{ Pending int }
		sinktest.Call(t, restartKey, http.MethodGet, s.Base+"/v1/sinks/archive", &st)
		return st.Pending == 100
	}, "the sink did not hold the 100 events in its open object")
	s.Kill()
	if got := b.d.lines(t, "open"); len(got) != 0 {
		t.Fatalf("%d events stored before the object was closed", len(got))
	}
	s = b.start(map[string]any{"linger": "50ms"})
	testutil.Eventually(t, 30*time.Second, func() bool { return len(b.d.lines(t, "open")) >= 100 }, "the restarted binary did not store the object")
	b.verifyOnce(100)
	s.Stop(t)
}

// A SIGKILL during a multipart upload, after its last part and before the
// upload is completed: S3 completes it anyway, the checkpoint has not
// moved, and the restarted binary writes the same object again (the same
// records, the same name): it replaces it, nothing twice.
func TestBinary_KillDuringUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	b := &binarySink{t: t, d: newDestination(t), dir: t.TempDir(), prefix: "upload", fields: map[string]any{"part_size": minPartBytes}}
	batch := map[string]any{"max_bytes": 8 << 20, "linger": "1h"}
	s := b.start(batch)
	sinktest.Call(t, restartKey, http.MethodPost, s.Base+"/v1/sinks/archive/pause", nil)
	evs := events(1500, 8000) // 12 MB of incompressible data: one object of 8 MiB (two parts), then the rest
	ingest(t, s.Base, evs, 50)
	completing := make(chan struct{})
	release := make(chan struct{})
	b.d.mu.Lock()
	b.d.hold = func(r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
			// The request whole before the kill: S3 has received it.
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("the completion's body: %v", err)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			close(completing)
			<-release // served after the kill
		}
	}
	b.d.mu.Unlock()
	sinktest.Call(t, restartKey, http.MethodPost, s.Base+"/v1/sinks/archive/resume", nil)
	select {
	case <-completing:
	case <-time.After(60 * time.Second):
		t.Fatalf("the upload was never completed; the log:\n%s", s.Log)
	}
	s.Kill()
	b.d.mu.Lock()
	b.d.hold = nil
	b.d.mu.Unlock()
	close(release)
	var first []string
	testutil.Eventually(t, 10*time.Second, func() bool {
		objs, err := b.d.archive(t, "upload").List(context.Background())
		first = nil
		for _, o := range objs {
			first = append(first, o.Key)
		}
		return err == nil && len(objs) == 1
	}, "the upload completed after the kill is not stored")

	batch["linger"] = "50ms"
	s = b.start(batch)
	testutil.Eventually(t, 60*time.Second, func() bool { return len(b.d.lines(t, "upload")) >= len(evs) }, "the restarted binary did not store every event")
	b.verifyOnce(len(evs))
	objs, _ := b.d.archive(t, "upload").List(context.Background())
	if objs[0].Key != first[0] || !strings.HasPrefix(objs[1].Key, "upload/") {
		t.Fatalf("objects %v after the restart, want %s written again and one more", objs, first[0])
	}
	s.Stop(t)
}
