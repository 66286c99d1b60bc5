package file

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/sinktest"
)

// newHarness is the file sink for the conformance suite: a file in a
// directory of the test's own, rotated every 4 KiB so that the suite's
// deliveries cross rotations. An outage replaces the directory by a
// regular file (opening the file then fails, ENOTDIR), as a lost mount
// would. A file refuses no record, so there is no Refuse (nor Flaky: a
// batch is one write).
func newHarness(t *testing.T) sinktest.Harness {
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "events.ndjson")
	return sinktest.Harness{
		Destination: &Config{Path: path, MaxBytes: 4096, MaxFiles: 1000},
		Fields:      map[string]any{"type": "file", "path": path, "max_bytes": 4096, "max_files": 1000},
		Received:    func(t testing.TB) [][]byte { return lines(t, path) },
		Outage: func(t testing.TB, on bool) {
			away := dir + ".away"
			if on {
				must(t, os.Rename(dir, away))
				must(t, os.WriteFile(dir, []byte("not a directory\n"), 0o644))
			} else {
				must(t, os.Remove(dir))
				must(t, os.Rename(away, dir))
			}
		},
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// lines returns the lines of the rotated files of path, oldest first,
// then of path.
func lines(tb testing.TB, path string) [][]byte {
	tb.Helper()
	files, err := (&Sink{path: path}).rotated()
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, f := range append(files, path) {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) && f == path {
			continue // not created again since the last rotation
		}
		must(tb, err)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			tb.Fatalf("%s ends without a newline", f)
		}
		for line := range bytes.Lines(b) {
			out = append(out, bytes.TrimSuffix(line, []byte("\n")))
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, newHarness, sinktest.Features{})
}
