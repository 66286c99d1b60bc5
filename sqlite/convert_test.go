package sqlite_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
)

// writeOldFormat, when set, makes TestConvert write its log into that
// directory with the package as it is and stop. It made
// testdata/blobchunks, run at commit f0120f3 (the last that stored
// events as blobs in SQLite):
//
//	go test -run TestConvert ./sqlite/ -write-old-format $PWD/sqlite/testdata/blobchunks
var writeOldFormat = flag.String("write-old-format", "", "write the conversion test's log into this directory and stop")

// oldFormatCommits is the log of testdata/blobchunks, one element per
// commit: 360 events in commits of 1 to 37, in 22 streams (every fourth
// commit a stream request, all in stream order-ev), and every fifth commit
// carrying again an id from an earlier one, which is a duplicate.
func oldFormatCommits() [][]sluice.AppendRequest {
	var commits [][]sluice.AppendRequest
	n := 0
	for c := 0; n < 360; c++ {
		size := min(1+(c*7)%37, 360-n)
		var evs []sluice.Event
		for range size {
			evs = append(evs, sluice.Event{
				ID:       fmt.Sprintf("ev-%04d", n),
				Type:     []string{"page.viewed", "order.placed", "cart.changed"}[n%3],
				Stream:   fmt.Sprintf("%s-%d", []string{"site", "order", "cart"}[n%3], n%7),
				Source:   "gen",
				Time:     "2026-12-03T11:00:00Z",
				Data:     fmt.Appendf(nil, `{"n":%d,"pad":"%0*d"}`, n, n%50, 0),
				Metadata: fmt.Appendf(nil, `{"correlation_id":"c-%d"}`, c),
			})
			n++
		}
		if c%5 == 4 {
			evs = append(evs, sluice.Event{ID: fmt.Sprintf("ev-%04d", n/2), Type: "page.viewed", Stream: "site-0", Data: []byte(`{"dup":true}`)})
		}
		reqs := []sluice.AppendRequest{{Events: evs}}
		if c%4 == 3 { // a stream request: all its events in one stream
			for i := range evs {
				evs[i].Stream = "order-ev"
			}
			reqs[0].Stream = "order-ev"
		}
		commits = append(commits, reqs)
	}
	return commits
}

// TestConvert opens a data directory written by the code that kept events
// as blobs in SQLite: every event is found with its position, version and
// data, every stream with its version, every id as a duplicate; and again
// after a reopen.
func TestConvert(t *testing.T) {
	ctx := context.Background()
	if *writeOldFormat != "" {
		s, err := sqlite.Open(ctx, sqlite.Options{Dir: *writeOldFormat, IDIndexBatch: 64})
		if err != nil {
			t.Fatal(err)
		}
		for _, reqs := range oldFormatCommits() {
			if _, err := s.Append(ctx, reqs); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(*writeOldFormat, "LOCK"))
		return
	}

	// What the log holds: each id once, at its first appearance.
	var want []sluice.Event
	versions := map[string]uint64{}
	seen := map[string]bool{}
	for _, reqs := range oldFormatCommits() {
		for _, e := range reqs[0].Events {
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			versions[e.Stream]++
			e.Position, e.Version = sluice.Position(len(want)+1), versions[e.Stream]
			want = append(want, e)
		}
	}

	dir := t.TempDir()
	copyDir(t, filepath.Join("testdata", "blobchunks"), dir)
	for round := range 2 {
		s, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, IDIndexBatch: 64})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		checkLog(t, s, want, versions)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "segments")); err != nil {
		t.Fatalf("no segment files after the conversion: %v", err)
	}
}

// checkLog checks that s holds exactly want, whose streams end at versions,
// and that every id of want is a duplicate. It appends nothing.
func checkLog(t *testing.T, s *sqlite.Store, want []sluice.Event, versions map[string]uint64) {
	t.Helper()
	ctx := context.Background()
	if h, err := s.Head(ctx); err != nil || h != sluice.Position(len(want)) {
		t.Fatalf("head %d (%v), want %d", h, err, len(want))
	}
	got, err := s.ReadLog(ctx, 0, sluice.Filter{}, len(want)+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ReadLog: %d events, want %d", len(got), len(want))
	}
	for i := range want {
		sameEvent(t, got[i], want[i])
	}
	for name, v := range versions {
		evs, err := s.ReadStream(ctx, name, sluice.ReadStreamOptions{Limit: 1000})
		if err != nil {
			t.Fatalf("ReadStream %s: %v", name, err)
		}
		if uint64(len(evs)) != v || evs[len(evs)-1].Version != v {
			t.Fatalf("stream %s: %d events, want %d", name, len(evs), v)
		}
		for _, e := range evs {
			sameEvent(t, e, want[e.Position-1])
		}
	}
	infos, err := s.ListStreams(ctx, "", "", 1000)
	if err != nil || len(infos) != len(versions) {
		t.Fatalf("ListStreams: %d streams (%v), want %d", len(infos), err, len(versions))
	}
	for _, si := range infos {
		if si.Version != versions[si.Stream] {
			t.Fatalf("stream %s at version %d, want %d", si.Stream, si.Version, versions[si.Stream])
		}
	}
	// Every id is a duplicate: a plan whose events are all stored stores
	// nothing. (Planned, not appended: checkLog leaves the log as it is.)
	var again []sluice.Event
	for _, e := range want {
		again = append(again, sluice.Event{ID: e.ID, Type: e.Type, Data: []byte(`{}`)})
	}
	res, err := s.Append(ctx, []sluice.AppendRequest{{Events: again}})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range res[0].Events {
		if !a.Duplicate || a.Position != want[i].Position || a.Version != want[i].Version {
			t.Fatalf("id %s: %+v, want a duplicate at %d", want[i].ID, a, want[i].Position)
		}
	}
}

func sameEvent(t *testing.T, got, want sluice.Event) {
	t.Helper()
	if got.Position != want.Position || got.Version != want.Version || got.ID != want.ID || got.Stream != want.Stream ||
		got.Type != want.Type || got.Source != want.Source || got.Time != want.Time ||
		string(got.Data) != string(want.Data) || string(got.Metadata) != string(want.Metadata) {
		t.Fatalf("event at %d:\n got %+v\nwant %+v", want.Position, got, want)
	}
}

// copyDir copies the files of from (one level of subdirectories) into to.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.Create(filepath.Join(to, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(dst, src); err != nil {
			dst.Close()
			return err
		}
		return dst.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}
