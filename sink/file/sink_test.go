package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// records makes n stored events over three streams, with their bodies as
// the runner hands them over; the data is written on several lines, as a
// client may send it.
func records(prefix string, n int) []sluice.SinkRecord {
	recs := make([]sluice.SinkRecord, n)
	for i := range recs {
		e := &sluice.Event{ID: fmt.Sprintf("%s-%03d", prefix, i), Type: "test.happened", Stream: fmt.Sprintf("s%d", i%3),
			Data: []byte(fmt.Sprintf("{\r\n  \"n\": %d,\n  \"text\": \"a\\nb\"\n}", i)), Position: sluice.Position(i + 1), Version: uint64(i/3 + 1)}
		recs[i] = sluice.SinkRecord{Event: e, Body: e.AppendJSON(nil)}
	}
	return recs
}

// open opens the sink of cfg and closes it when tb ends.
func open(tb testing.TB, cfg *Config) *Sink {
	tb.Helper()
	return sinktest.Open[*Sink](tb, cfg, sink.Env{Name: "test"})
}

// ids decodes the lines and returns their events' ids, failing the test
// on a line that is not a stored event.
func ids(tb testing.TB, lines [][]byte) []string {
	tb.Helper()
	var out []string
	for _, l := range lines {
		var e sluice.Event
		if err := json.Unmarshal(l, &e); err != nil || e.ID == "" {
			tb.Fatalf("line %q is not an event: %v", l, err)
		}
		out = append(out, e.ID)
	}
	return out
}

func recordIDs(recs ...[]sluice.SinkRecord) []string {
	var out []string
	for _, rs := range recs {
		for _, r := range rs {
			out = append(out, r.Event.ID)
		}
	}
	return out
}

// retryable fails the test unless err is a failure of the whole batch
// that a retry may fix, and wraps want.
func retryable(t *testing.T, err, want error) {
	t.Helper()
	var de *sluice.DeliveryError
	if err == nil || errors.As(err, &de) || sluice.IsPermanent(err) || !errors.Is(err, want) {
		t.Fatalf("%v, want a retryable error of the whole batch wrapping %v", err, want)
	}
}

func TestSink_Deliver(t *testing.T) {
	ctx := context.Background()

	t.Run("OneLinePerRecordInOrder", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "out.ndjson")
		s := open(t, &Config{Path: path})
		a, b := records("a", 5), records("b", 5)
		for _, recs := range [][]sluice.SinkRecord{a, b} {
			if err := s.Deliver(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		got := lines(t, path)
		if !slices.Equal(ids(t, got), recordIDs(a, b)) {
			t.Fatalf("the file holds %v", ids(t, got))
		}
		// The data's line breaks were white space: the same value.
		var line, want struct{ Data any }
		_ = json.Unmarshal(got[0], &line)
		_ = json.Unmarshal(a[0].Body, &want)
		if fmt.Sprint(line.Data) != fmt.Sprint(want.Data) || !strings.Contains(string(got[0]), `"text": "a\nb"`) {
			t.Fatalf("line %s, want the data of %s", got[0], a[0].Body)
		}
	})

	t.Run("Rotation", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		path := filepath.Join(dir, "out.ndjson")
		batch := len(appendLines(nil, records("x", 3)))
		s := open(t, &Config{Path: path, MaxBytes: int64(2*batch + batch/2), MaxFiles: 2})
		var all [][]sluice.SinkRecord
		for i := range 7 {
			recs := records(fmt.Sprintf("r%d", i), 3)
			all = append(all, recs)
			if err := s.Deliver(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		// Two batches a file: the 7th in the file, the 5th and 6th, the
		// 3rd and 4th rotated, the 1st and 2nd removed.
		rotated, err := s.rotated()
		if err != nil {
			t.Fatal(err)
		}
		name := regexp.MustCompile(`^out-\d{8}T\d{6}\.\d{3}Z\.ndjson$`)
		for _, f := range rotated {
			if !name.MatchString(filepath.Base(f)) {
				t.Errorf("rotated file %s", filepath.Base(f))
			}
		}
		if len(rotated) != 2 {
			t.Fatalf("rotated files %v, want max_files, 2", rotated)
		}
		if got, want := ids(t, lines(t, path)), recordIDs(all[2:]...); !slices.Equal(got, want) {
			t.Fatalf("the files hold %v, want %v", got, want)
		}
	})

	t.Run("RotatedByAnotherProgram", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "out.ndjson")
		s := open(t, &Config{Path: path})
		a, b := records("a", 2), records("b", 2)
		must(t, s.Deliver(ctx, a))
		must(t, os.Rename(path, path+".1")) // as logrotate does
		must(t, s.Deliver(ctx, b))
		if got := ids(t, lines(t, path)); !slices.Equal(got, recordIDs(b)) {
			t.Fatalf("the new file holds %v, want %v", got, recordIDs(b))
		}
	})

	t.Run("TornLastLineCut", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "out.ndjson")
		whole := `{"id":"before"}` + "\n"
		must(t, os.WriteFile(path, []byte(whole+`{"id":"torn","da`), 0o644))
		s := open(t, &Config{Path: path})
		recs := records("after", 2)
		must(t, s.Deliver(ctx, recs))
		if got := ids(t, lines(t, path)); !slices.Equal(got, append([]string{"before"}, recordIDs(recs)...)) {
			t.Fatalf("the file holds %v", got)
		}
	})

	t.Run("DiskFull", func(t *testing.T) {
		t.Parallel()
		dir := testutil.MountTmpfs(t, "256k")
		path := filepath.Join(dir, "out.ndjson")
		s := open(t, &Config{Path: path})
		first := records("first", 10)
		must(t, s.Deliver(ctx, first))
		filler := filepath.Join(dir, "filler")
		if err := os.WriteFile(filler, make([]byte, 256<<10), 0o644); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("filling the disk: %v", err)
		}
		// Space for a part of the batch only: what was written of it is
		// cut off again.
		_ = os.Truncate(filler, 256<<10-12<<10)
		big := records("big", 100)
		retryable(t, s.Deliver(ctx, big), syscall.ENOSPC)
		if got := ids(t, lines(t, path)); !slices.Equal(got, recordIDs(first)) {
			t.Fatalf("after ENOSPC the file holds %v, want the first batch only", got)
		}
		must(t, os.Remove(filler))
		must(t, s.Deliver(ctx, big))
		if got := ids(t, lines(t, path)); !slices.Equal(got, recordIDs(first, big)) {
			t.Fatalf("once space was freed the file holds %v", got)
		}
	})

	t.Run("DevFull", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "out.ndjson")
		must(t, os.Symlink("/dev/full", path))
		s := open(t, &Config{Path: path})
		retryable(t, s.Deliver(ctx, records("full", 3)), syscall.ENOSPC)
	})

	t.Run("DirectoryGoneAndBack", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "out")
		path := filepath.Join(dir, "out.ndjson")
		s := open(t, &Config{Path: path})
		retryable(t, s.Deliver(ctx, records("gone", 3)), os.ErrNotExist)
		must(t, os.Mkdir(dir, 0o755))
		must(t, s.Deliver(ctx, records("back", 3)))
		if got := ids(t, lines(t, path)); !slices.Equal(got, recordIDs(records("back", 3))) {
			t.Fatalf("the file holds %v", got)
		}
	})

	t.Run("DirectoryReplacedByAFile", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		s := open(t, h.Destination.(*Config))
		h.Outage(t, true)
		retryable(t, s.Deliver(ctx, records("out", 3)), syscall.ENOTDIR)
		h.Outage(t, false)
		must(t, s.Deliver(ctx, records("out", 3)))
	})

	t.Run("ConcurrentDeliveries", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "out.ndjson")
		s := open(t, &Config{Path: path, MaxBytes: 8 << 10, MaxFiles: 1000})
		var wg sync.WaitGroup
		var want []string
		for g := range 2 { // live and replay
			var batches [][]sluice.SinkRecord
			for i := range 20 {
				batches = append(batches, records(fmt.Sprintf("g%d-%02d", g, i), 5))
			}
			want = append(want, recordIDs(batches...)...)
			wg.Go(func() {
				for _, b := range batches {
					if err := s.Deliver(ctx, b); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		got := ids(t, lines(t, path))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("the files hold %d records, want %d, each once", len(got), len(want))
		}
	})

	t.Run("ContextEnded", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "out.ndjson")
		s := open(t, &Config{Path: path})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Deliver(cctx, records("late", 2)); !errors.Is(err, context.Canceled) {
			t.Fatalf("%v, want context.Canceled", err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("a delivery after its context ended wrote the file (%v)", err)
		}
	})

	t.Run("WithoutFsync", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "out.ndjson")
		no := false
		s := open(t, &Config{Path: path, Fsync: &no})
		must(t, s.Deliver(ctx, records("nosync", 3)))
		if got := ids(t, lines(t, path)); len(got) != 3 {
			t.Fatalf("the file holds %v", got)
		}
	})
}

// TestSink_Stdout runs the test binary as a child that delivers to its
// standard output, a pipe: the records arrive; once the reader is gone
// deliveries fail retryably (EPIPE) and the child lives on.
func TestSink_Stdout(t *testing.T) {
	if mode := os.Getenv("SLUICE_TEST_FILE_STDOUT"); mode != "" {
		stdoutChild(mode)
		return
	}
	child := func(mode string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSink_Stdout$")
		cmd.Env = append(os.Environ(), "SLUICE_TEST_FILE_STDOUT="+mode)
		return cmd
	}
	t.Run("Delivered", func(t *testing.T) {
		var stderr bytes.Buffer
		cmd := child("deliver")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %s", err, stderr.Bytes())
		}
		var got [][]byte
		for line := range bytes.Lines(out) {
			got = append(got, bytes.TrimSuffix(line, []byte("\n")))
		}
		if !slices.Equal(ids(t, got), recordIDs(records("stdout", 4))) {
			t.Fatalf("the standard output: %s", out)
		}
	})
	t.Run("ReaderGone", func(t *testing.T) {
		var stderr bytes.Buffer
		cmd := child("epipe")
		cmd.Stderr = &stderr
		r, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		must(t, cmd.Start())
		r.Close() // the reader goes away at once
		if err := cmd.Wait(); err != nil {
			t.Fatalf("the child: %v: %s", err, stderr.Bytes())
		}
		if !strings.Contains(stderr.String(), "retryable EPIPE") {
			t.Fatalf("the child said %q", stderr.String())
		}
	})
}

// stdoutChild is the child of TestSink_Stdout.
func stdoutChild(mode string) {
	s, err := (&Config{Path: Stdout}).Open(context.Background(), sink.Env{Name: "test"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	switch mode {
	case "deliver":
		err = s.Deliver(ctx, records("stdout", 4))
	case "epipe":
		// Until the parent's end of the pipe is closed, writes succeed.
		deadline := time.Now().Add(10 * time.Second)
		for err == nil && time.Now().Before(deadline) {
			err = s.Deliver(ctx, records("epipe", 100))
		}
		var de *sluice.DeliveryError
		if errors.Is(err, syscall.EPIPE) && !sluice.IsPermanent(err) && !errors.As(err, &de) {
			fmt.Fprintln(os.Stderr, "retryable EPIPE:", err)
			err = nil
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}
