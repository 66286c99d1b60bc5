package sqlite

import (
	"context"
	"database/sql"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/storetest"
)

// withIDsTesting sets what the stores opened until the test ends are
// opened with.
func withIDsTesting(t *testing.T, it idsTest) {
	t.Helper()
	idsTesting.Store(&it)
	t.Cleanup(func() { idsTesting.Store(nil) })
}

func openIDs(t *testing.T, dir string, batch int) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: dir, IDIndexBatch: batch})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// appendEvents appends evs in one commit and returns the results.
func appendEvents(t *testing.T, s *Store, evs []sluice.Event) []sluice.Appended {
	t.Helper()
	res, err := s.Append(context.Background(), []sluice.AppendRequest{{Events: evs}})
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Events
}

// events makes n events with random ids, numbered from i.
func events(i, n int) []sluice.Event {
	evs := make([]sluice.Event, n)
	for j := range evs {
		evs[j] = storetest.BenchEvent(i + j)
	}
	return evs
}

// appendCommits appends commits of size new events each, and returns
// stored with them added.
func appendCommits(t *testing.T, s *Store, stored []sluice.Event, commits, size int) []sluice.Event {
	t.Helper()
	for range commits {
		evs := events(len(stored), size)
		appendEvents(t, s, evs)
		stored = append(stored, evs...)
	}
	return stored
}

// again is evs with the same ids and other data: each must be a duplicate.
func again(evs []sluice.Event) []sluice.Event {
	out := make([]sluice.Event, len(evs))
	for i, e := range evs {
		out[i] = sluice.Event{ID: e.ID, Type: "page.viewed", Data: []byte(`{"again":true}`)}
	}
	return out
}

// checkDuplicates appends every id of stored (in order from position 1)
// again and fails unless each is reported as a duplicate of its event.
func checkDuplicates(t *testing.T, s *Store, stored []sluice.Event) {
	t.Helper()
	head, _ := s.Head(context.Background())
	for from := 0; from < len(stored); from += 500 {
		batch := stored[from:min(from+500, len(stored))]
		for i, a := range appendEvents(t, s, again(batch)) {
			if !a.Duplicate || a.Position != sluice.Position(from+i+1) {
				t.Fatalf("id %d: %+v, want a duplicate of position %d", from+i, a, from+i+1)
			}
		}
	}
	if h, _ := s.Head(context.Background()); h != head {
		t.Fatalf("head moved from %d to %d: a duplicate was stored", head, h)
	}
}

// idle reports whether the flusher has nothing left to write, merge or drop.
func (ids *idIndex) idle() bool {
	ids.mu.RLock()
	defer ids.mu.RUnlock()
	return len(ids.pending) == 0
}

// TestIDIndex_FlushDoesNotBlockCommits holds the flusher inside a batch's
// transaction: commits go on, and find the ids of the batch being written,
// until maxPending batches wait; the next commit that would freeze one
// waits, and goes on once the flush is let go.
func TestIDIndex_FlushDoesNotBlockCommits(t *testing.T) {
	entered, release := make(chan sluice.Position, 10), make(chan struct{})
	withIDsTesting(t, idsTest{minFilter: 1 << 10, flushHook: func(p sluice.Position) {
		entered <- p
		<-release
	}})
	s := openIDs(t, t.TempDir(), 10)
	defer s.Close()
	stored := events(0, 10)
	appendEvents(t, s, stored) // freezes a batch: the flusher takes it and is held
	if p := <-entered; p != 10 {
		t.Fatalf("the flusher writes a batch through %d, want 10", p)
	}
	more := events(10, 10)
	appendEvents(t, s, more) // freezes a second batch, which waits in pending
	stored = append(stored, more...)
	checkDuplicates(t, s, stored) // from the batch being written and the one waiting
	if n := s.ids.stalls.Load(); n != 0 {
		t.Fatalf("%d commits waited for the flusher, want none", n)
	}

	// A third batch would pass the bound: its commit waits for the flusher.
	third := events(20, 10)
	done := make(chan []sluice.Appended)
	go func() {
		res, err := s.Append(context.Background(), []sluice.AppendRequest{{Events: third}})
		if err != nil {
			t.Error(err)
		}
		done <- res[0].Events
	}()
	testutil.Eventually(t, 10*time.Second, func() bool { return s.ids.stalls.Load() == 1 }, "the third batch's commit did not wait for the flusher")
	select {
	case <-done:
		t.Fatal("the commit went on while maxPending batches were pending")
	default:
	}
	close(release)
	if res := <-done; res[0].Position != 21 {
		t.Fatalf("the waiting commit stored its first event at %d, want 21", res[0].Position)
	}
	stored = append(stored, third...)
	testutil.Eventually(t, 10*time.Second, s.ids.idle, "the flusher did not write the pending batches")
	checkDuplicates(t, s, stored)
}

// TestIDIndex_CrashMidFlush copies the data directory while the flusher is
// held inside a transaction, as a crash would leave it: ids.db's mark is
// behind the log. The copy opens with every id found.
func TestIDIndex_CrashMidFlush(t *testing.T) {
	entered, release := make(chan sluice.Position, 10), make(chan struct{})
	withIDsTesting(t, idsTest{minFilter: 1 << 10, flushHook: func(p sluice.Position) {
		if p > 30 { // let the first three batches through
			entered <- p
			<-release
		}
	}})
	dir := t.TempDir()
	s := openIDs(t, dir, 10)
	stored := appendCommits(t, s, nil, 5, 10)
	<-entered
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	close(release)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	idsTesting.Store(&idsTest{minFilter: 1 << 10})

	db, err := sql.Open(driverName, dsn(filepath.Join(crashed, "ids.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	var through int
	if err := db.QueryRow("SELECT indexed_through FROM state").Scan(&through); err != nil || through != 30 {
		t.Fatalf("the copy's ids.db is indexed through %d (%v), want 30: the batch held was not committed", through, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r := openIDs(t, crashed, 10)
	defer r.Close()
	checkDuplicates(t, r, stored)
}

// copyDir copies the files of a data directory, whatever its layout, as a
// crash would leave them on disk: all but the lock and SQLite's shared
// memory, which opening rebuilds.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, e fs.DirEntry, err error) error {
		if err != nil || path == from {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if e.IsDir() {
			return os.Mkdir(filepath.Join(to, rel), 0o755)
		}
		if e.Name() != "LOCK" && !strings.HasSuffix(e.Name(), "-shm") {
			copyFile(t, path, filepath.Join(to, rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestIDIndex_Runs: across many flushes, merges keep the runs few, every id
// stays found through restarts, and the filter grows as the index does.
func TestIDIndex_Runs(t *testing.T) {
	withIDsTesting(t, idsTest{minFilter: 64})
	dir := t.TempDir()
	s := openIDs(t, dir, 20)
	var stored []sluice.Event
	for range 4 {
		stored = appendCommits(t, s, stored, 25, 20)
		checkDuplicates(t, s, stored) // while runs are written and merged
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		s.ids.mu.RLock()
		defer s.ids.mu.RUnlock()
		return len(s.ids.pending) == 0 && s.ids.filter.Load().Capacity() >= 2000 && len(s.ids.db.runs) <= 8
	}, "the flusher did not write, merge and grow the filter")
	checkDuplicates(t, s, stored)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "ids.filter")
	copyFile(t, filepath.Join(dir, "ids.filter"), saved)
	s = openIDs(t, dir, 20) // with the filter Close saved
	checkDuplicates(t, s, stored)
	if c := s.ids.filter.Load().Capacity(); c < 2000 {
		t.Fatalf("reopened with a filter for %d ids, want room for the 2000 in ids.db", c)
	}
	evs := events(len(stored), 40)
	appendEvents(t, s, evs)
	stored = append(stored, evs...)
	testutil.Eventually(t, 10*time.Second, s.ids.idle, "the flusher did not write the new batches")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A saved filter that misses the runs written since is not used.
	copyFile(t, saved, filepath.Join(dir, "ids.filter"))
	s = openIDs(t, dir, 20)
	defer s.Close()
	checkDuplicates(t, s, stored)
}

// TestIDIndex_Convert opens a data directory of the older format, with the
// id index in sluice.db's id_index (built here by SQL, as migration 001 made
// it, and indexed through position 60 of 100): open moves it into ids.db,
// migration 007 drops it, and every id is found.
func TestIDIndex_Convert(t *testing.T) {
	dir := t.TempDir()
	s := openIDs(t, dir, 1000)
	stored := events(0, 100)
	appendEvents(t, s, stored)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ids.db", "ids.db-wal", "ids.db-shm"} {
		os.Remove(filepath.Join(dir, name))
	}
	db, err := sql.Open(driverName, dsn(filepath.Join(dir, "sluice.db"), false))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec("DELETE FROM schema_migrations WHERE version >= 7")
	exec("ALTER TABLE schema_migrations DROP COLUMN breaks_before") // added by 009
	exec("ALTER TABLE schema_migrations DROP COLUMN applied_by")
	exec("CREATE TABLE id_index (hash INTEGER NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (hash, position)) WITHOUT ROWID")
	exec("CREATE TABLE id_index_state (one INTEGER PRIMARY KEY CHECK (one = 1), indexed_through INTEGER NOT NULL)")
	exec("INSERT INTO id_index_state (one, indexed_through) VALUES (1, 60)")
	for i, e := range stored[:65] { // a batch half written past the mark, as D16 allowed
		exec("INSERT INTO id_index (hash, position) VALUES (?, ?)", idHash(e.ID), i+1)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s = openIDs(t, dir, 1000)
	defer s.Close()
	if s.ids.db.through != 60 || len(s.ids.db.runs) != 1 || s.ids.db.runs[0].entries != 60 {
		t.Fatalf("ids.db through %d with runs %+v, want one run of the 60 ids through 60", s.ids.db.through, s.ids.db.runs)
	}
	if len(s.ids.recent) != 40 {
		t.Fatalf("%d ids in memory, want the 40 after the mark", len(s.ids.recent))
	}
	var old int
	if err := s.wc.QueryRowContext(context.Background(), "SELECT count(*) FROM sqlite_master WHERE name IN ('id_index', 'id_index_state')").Scan(&old); err != nil || old != 0 {
		t.Fatalf("%d old tables left in sluice.db (%v), want none", old, err)
	}
	checkDuplicates(t, s, stored)
}

// TestIDIndex_HashCollision: an id whose hash is also the hash of a stored
// event's id is stored, not refused, and afterwards each of the two is found
// as itself. The map of recent ids cannot hold one hash twice, so the first
// is frozen into a batch before the second joins.
func TestIDIndex_HashCollision(t *testing.T) {
	withIDsTesting(t, idsTest{minFilter: 1 << 10})
	s := openIDs(t, t.TempDir(), 1000)
	defer s.Close()
	a, b := storetest.BenchEvent(0), storetest.BenchEvent(1)
	appendEvents(t, s, []sluice.Event{a})
	// A collision, made by hand: the index says b's hash is at a's position.
	s.mu.Lock()
	s.ids.add(idHash(b.ID), 1)
	s.mu.Unlock()
	if res := appendEvents(t, s, []sluice.Event{b}); res[0].Duplicate || res[0].Position != 2 {
		t.Fatalf("b: %+v, want it stored at 2", res[0])
	}
	if s.ids.first() == nil && len(s.ids.db.runs) == 0 {
		t.Fatal("b's hash clashed with a recent one, and recent was not frozen")
	}
	checkDuplicates(t, s, []sluice.Event{a, b})
	testutil.Eventually(t, 10*time.Second, s.ids.idle, "the flusher did not write the frozen batch")
	checkDuplicates(t, s, []sluice.Event{a, b})
}

// TestIDIndex_MergeResumes closes the store in the middle of a merge of many
// steps (the third is held until Close has begun, the fourth waits for the
// flusher to be told to stop): the next open takes the merge up from the
// fifth, and every id stays found.
func TestIDIndex_MergeResumes(t *testing.T) {
	held, release := make(chan struct{}), make(chan struct{})
	var s *Store
	first := true
	withIDsTesting(t, idsTest{minFilter: 1 << 10, mergeStep: 2, mergeHook: func(step int) {
		switch {
		case !first:
		case step == 2:
			close(held)
			<-release
		case step == 3:
			<-s.ids.db.stop
			first = false
		}
	}})
	dir := t.TempDir()
	s = openIDs(t, dir, 10)
	stored := appendCommits(t, s, nil, 4, 10) // four runs of 10: a merge of 20 steps
	<-held
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	s = openIDs(t, dir, 10)
	defer s.Close()
	if s.ids.db.resumed != 4 {
		t.Fatalf("open resumed a merge from step %d, want 4", s.ids.db.resumed)
	}
	checkDuplicates(t, s, stored)
	testutil.Eventually(t, 10*time.Second, func() bool {
		s.ids.mu.RLock()
		defer s.ids.mu.RUnlock()
		return len(s.ids.db.runs) == 1
	}, "the resumed merge did not end in one run")
	checkDuplicates(t, s, stored)
}
