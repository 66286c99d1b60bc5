package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
)

// openQuiet opens the log in dir with segments of segmentSize (0: the
// default), logging nothing.
func openQuiet(t *testing.T, dir string, segmentSize int64) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir, SegmentSize: segmentSize, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// appendCommits appends n commits of 1 to 3 events in the streams
// rec-0…rec-2, with ids tag-0, tag-1, …, and closes the store.
func appendCommits(t *testing.T, s *sqlite.Store, tag string, n int) {
	t.Helper()
	k := 0
	for c := range n {
		var evs []sluice.Event
		for range 1 + c%3 {
			evs = append(evs, sluice.Event{ID: fmt.Sprintf("%s-%d", tag, k), Type: "rec", Stream: fmt.Sprintf("rec-%d", k%3), Data: fmt.Appendf(nil, `{"k":%d}`, k)})
			k++
		}
		if _, err := s.Append(context.Background(), []sluice.AppendRequest{{Events: evs}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// logState is everything a reader sees of a log.
type logState struct {
	events  []sluice.Event
	streams []sluice.StreamInfo
	byName  map[string][]sluice.Event
}

func readState(t *testing.T, s *sqlite.Store) logState {
	t.Helper()
	ctx := context.Background()
	var st logState
	var err error
	if st.events, err = s.ReadLog(ctx, 0, sluice.Filter{}, 100_000); err != nil {
		t.Fatal(err)
	}
	if st.streams, err = s.ListStreams(ctx, "", "", 1000); err != nil {
		t.Fatal(err)
	}
	st.byName = map[string][]sluice.Event{}
	for _, si := range st.streams {
		if st.byName[si.Stream], err = s.ReadStream(ctx, si.Stream, sluice.ReadStreamOptions{Limit: 100_000}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// checkState checks that s shows want, that the ids of want are
// duplicates of their events, and that an Append after them works.
func checkState(t *testing.T, s *sqlite.Store, want logState) {
	t.Helper()
	ctx := context.Background()
	if h, _ := s.Head(ctx); h != sluice.Position(len(want.events)) {
		t.Fatalf("head %d, want %d", h, len(want.events))
	}
	if got := readState(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("the log differs:\n got %+v\nwant %+v", got, want)
	}
	var again []sluice.Event
	for _, e := range want.events {
		again = append(again, sluice.Event{ID: e.ID, Type: "rec", Data: []byte(`{}`)})
	}
	again = append(again, sluice.Event{ID: "after-recovery", Type: "rec", Stream: "rec-0", Data: []byte(`{}`)})
	res, err := s.Append(ctx, []sluice.AppendRequest{{Events: again}})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range res[0].Events[:len(want.events)] {
		if !a.Duplicate || a.Position != want.events[i].Position {
			t.Fatalf("id %s: %+v, want a duplicate at %d", want.events[i].ID, a, want.events[i].Position)
		}
	}
	if a := res[0].Events[len(want.events)]; a.Duplicate || a.Position != sluice.Position(len(want.events)+1) {
		t.Fatalf("the append after recovery: %+v", a)
	}
}

// segmentFiles returns the paths of dir's segment files, in order.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "segments", "*.seg"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no segment files in %s (%v)", dir, err)
	}
	slices.Sort(paths)
	return paths
}

// tornPair makes A (six commits, closed) and B (A and one more commit of
// two events, one in a new stream, closed), and returns their directories
// and what they hold.
func tornPair(t *testing.T, segmentSize int64, more int) (dirA, dirB string, stateA, stateB logState) {
	t.Helper()
	dirA, dirB = t.TempDir(), t.TempDir()
	appendCommits(t, openQuiet(t, dirA, segmentSize), "a", 6)
	copyDir(t, dirA, dirB)
	appendCommits(t, openQuiet(t, dirB, segmentSize), "b", more)
	for _, d := range []struct {
		dir string
		st  *logState
	}{{dirA, &stateA}, {dirB, &stateB}} {
		s := openQuiet(t, d.dir, segmentSize)
		*d.st = readState(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dirA, dirB, stateA, stateB
}

// withSegment copies dir to a new directory and writes data as the
// segment file named like path.
func withSegment(t *testing.T, dir, path string, data []byte) string {
	t.Helper()
	to := t.TempDir()
	copyDir(t, dir, to)
	if err := os.WriteFile(filepath.Join(to, "segments", filepath.Base(path)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return to
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecover_TornWrite: A's directory with its segment replaced by B's
// cut at every byte of B's last frame. Short of the whole frame, the log
// is A's (the torn bytes are cut off); with the whole frame, it is B's,
// recovered from the segment alone: events, stream versions, stream reads,
// the dedupe of its ids. An Append works after each.
func TestRecover_TornWrite(t *testing.T) {
	dirA, dirB, stateA, stateB := tornPair(t, 0, 1)
	segA, segB := segmentFiles(t, dirA), segmentFiles(t, dirB)
	a, b := readFile(t, segA[0]), readFile(t, segB[0])
	if len(segA) != 1 || len(segB) != 1 || len(b) <= len(a) || string(b[:len(a)]) != string(a) {
		t.Fatalf("B's segment does not extend A's: %d and %d files, %d and %d bytes", len(segA), len(segB), len(a), len(b))
	}
	frame := len(b) - len(a)
	for k := 0; k <= frame; k++ {
		dir := withSegment(t, dirA, segA[0], b[:len(a)+k])
		s := openQuiet(t, dir, 0)
		want := stateA
		if k == frame {
			want = stateB
		}
		checkState(t, s, want)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if k < frame {
			// The torn bytes are gone, and the Append went after A.
			if got := readFile(t, segmentFiles(t, dir)[0]); string(got[:len(a)]) != string(a) {
				t.Fatalf("cut at %d of %d: A's frames changed", k, frame)
			}
		}
	}
}

// TestRecover_Corrupt: a byte flipped in the middle of B's last frame.
// Unindexed (A's index), the frame is cut off: the log is A's. Indexed (B's
// index), reading it is an error that names the file, not garbage. And an
// index that puts a chunk beyond its file's end refuses to open.
func TestRecover_Corrupt(t *testing.T) {
	dirA, dirB, stateA, _ := tornPair(t, 0, 1)
	seg := segmentFiles(t, dirB)[0]
	a, b := readFile(t, segmentFiles(t, dirA)[0]), readFile(t, seg)
	flipped := slices.Clone(b)
	flipped[len(a)+(len(b)-len(a))/2] ^= 0x40

	s := openQuiet(t, withSegment(t, dirA, seg, flipped), 0)
	checkState(t, s, stateA)
	s.Close()

	// Open reads the frame to rebuild the recent ids, and refuses; were it
	// to open, reading the frame would be the error.
	wantCRC := func(err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "CRC") || !strings.Contains(err.Error(), filepath.Base(seg)) {
			t.Fatalf("a corrupt indexed frame: %v, want a CRC error naming %s", err, filepath.Base(seg))
		}
	}
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: withSegment(t, dirB, seg, flipped), Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		_, err = s.ReadLog(context.Background(), 0, sluice.Filter{}, 1000)
		s.Close()
	}
	wantCRC(err)

	dir := withSegment(t, dirB, seg, b[:len(b)-1])
	_, err = sqlite.Open(context.Background(), sqlite.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "corrupt log") || !strings.Contains(err.Error(), filepath.Base(seg)) {
		t.Fatalf("an index beyond the segment's end: %v, want an error naming %s", err, filepath.Base(seg))
	}
}

// frameStart is where the first frame's payload starts in a segment file.
const frameStart = 16

// TestRecover_Segments: with segments of 256 bytes, the log spans many
// files, read across; A's index with B's files recovers the frames of B's
// commits in the files A's index never saw; a corrupt frame in one of
// them cuts the log there and removes the files after it.
func TestRecover_Segments(t *testing.T) {
	const size = 256
	dirA, dirB, stateA, stateB := tornPair(t, size, 12)
	filesA, filesB := segmentFiles(t, dirA), segmentFiles(t, dirB)
	if len(filesA) < 2 || len(filesB) < len(filesA)+3 {
		t.Fatalf("%d and %d segment files: the test needs more", len(filesA), len(filesB))
	}
	withFiles := func(files []string, change func(name string, b []byte) []byte) string {
		to := t.TempDir()
		copyDir(t, dirA, to)
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(to, "segments", filepath.Base(f)), change(filepath.Base(f), readFile(t, f)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return to
	}
	s := openQuiet(t, withFiles(filesB, func(_ string, b []byte) []byte { return b }), size)
	checkState(t, s, stateB)
	s.Close()

	// Corrupt the first frame of a file A never had: the log ends before
	// it, and the later files are gone.
	bad := filepath.Base(filesB[len(filesA)+1])
	dir := withFiles(filesB, func(name string, b []byte) []byte {
		if name == bad {
			b[frameStart+4] ^= 1
		}
		return b
	})
	s = openQuiet(t, dir, size)
	var first sluice.Position
	fmt.Sscanf(bad, "%d.seg", &first)
	want := stateB
	want.events = want.events[:first-1]
	head, _ := s.Head(context.Background())
	got := readState(t, s)
	if head != first-1 || !reflect.DeepEqual(got.events, want.events) {
		t.Fatalf("head %d (%d events), want %d", head, len(got.events), first-1)
	}
	if n := len(segmentFiles(t, dir)); n != len(filesA)+2 {
		t.Fatalf("%d segment files after the cut, want %d", n, len(filesA)+2)
	}
	if len(got.events) <= len(stateA.events) {
		t.Fatalf("nothing recovered")
	}
	s.Close()
}

// TestRecover_Killed: a copy of a directory taken while its store is open
// is what a killed process leaves: the last segment file ends in the zeros
// written ahead of the frames. It opens with every event, and the zeros
// are cut off.
func TestRecover_Killed(t *testing.T) {
	dir := t.TempDir()
	s := openQuiet(t, dir, 0)
	for c := range 5 {
		if _, err := s.Append(context.Background(), []sluice.AppendRequest{{Events: []sluice.Event{{ID: fmt.Sprint("k-", c), Type: "rec", Stream: "rec-0", Data: []byte(`{}`)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	want := readState(t, s)
	killed := t.TempDir()
	copyDir(t, dir, killed)
	s.Close()
	seg := segmentFiles(t, killed)[0]
	before := len(readFile(t, seg))
	s = openQuiet(t, killed, 0)
	checkState(t, s, want)
	s.Close()
	if after := len(readFile(t, seg)); after >= before {
		t.Fatalf("the segment file is %d bytes, %d before: the zeros were not cut", after, before)
	}
}
