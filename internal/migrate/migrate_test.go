package migrate

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	t.Run("Ordered", func(t *testing.T) {
		t.Parallel()
		fsys := fstest.MapFS{
			"m/002_b.sql": {Data: []byte("-- sluice: breaks-before 2\nB")},
			"m/001_a.sql": {Data: []byte("-- sluice: additive\nA")},
			"m/README.md": {Data: []byte("skip")},
			"m/010_c.sql": {Data: []byte("-- sluice: breaks-before 7\r\nC")},
		}
		ms, err := Load(fsys, "m")
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 3 || ms[0].Version != 1 || ms[1].Version != 2 || ms[2].Version != 10 || ms[0].SQL != "-- sluice: additive\nA" {
			t.Fatalf("got %+v", ms)
		}
		if ms[0].BreaksBefore != 0 || ms[1].BreaksBefore != 2 || ms[2].BreaksBefore != 7 {
			t.Errorf("markers: got %d, %d, %d, want 0, 2, 7", ms[0].BreaksBefore, ms[1].BreaksBefore, ms[2].BreaksBefore)
		}
		if Newest(ms) != 10 || Newest(nil) != 0 {
			t.Errorf("Newest: %d, %d; want 10, 0", Newest(ms), Newest(nil))
		}
	})
	t.Run("BadName", func(t *testing.T) {
		t.Parallel()
		if _, err := Load(fstest.MapFS{"m/init.sql": {}}, "m"); err == nil {
			t.Fatal("want an error for a name without a number")
		}
	})
	t.Run("DuplicateVersion", func(t *testing.T) {
		t.Parallel()
		if _, err := Load(fstest.MapFS{"m/001_a.sql": {}, "m/1_b.sql": {}}, "m"); err == nil {
			t.Fatal("want an error for two files with version 1")
		}
	})
	// A file without its marker is refused, whatever else is right, so
	// that nobody adds a migration without saying what it does to the
	// binaries before it.
	t.Run("NoMarker", func(t *testing.T) {
		t.Parallel()
		_, err := Load(fstest.MapFS{"m/001_a.sql": {Data: []byte("-- sluice: additive\n")}, "m/002_b.sql": {Data: []byte("-- adds b\nCREATE TABLE b (x int);")}}, "m")
		if err == nil || !strings.Contains(err.Error(), "migration 002_b.sql") || !strings.Contains(err.Error(), `"-- sluice: additive"`) {
			t.Fatalf("got %v, want an error naming 002_b.sql and the marker to write", err)
		}
	})
}

func TestParseMarker(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		version int
		sql     string
		want    int
		err     string // "" for none
	}{
		{"Additive", 3, "-- sluice: additive\nCREATE TABLE t (x int);", 0, ""},
		{"AdditiveOnly", 3, "-- sluice: additive", 0, ""},
		{"SpacesAndCRLF", 3, "-- sluice:   additive  \r\nSELECT 1;", 0, ""},
		{"BreaksBeforeItself", 6, "-- sluice: breaks-before 6\nALTER TABLE chunks RENAME TO blob_chunks;", 6, ""},
		{"BreaksBeforeEarlier", 9, "-- sluice: breaks-before 7\n", 7, ""},
		{"Empty", 1, "", 0, "the first line must be"},
		{"NotFirstLine", 2, "-- a comment\n-- sluice: additive\n", 0, "the first line must be"},
		{"NoSpaceAfterDashes", 2, "--sluice: additive\n", 0, "the first line must be"},
		{"UnknownWord", 2, "-- sluice: compatible\n", 0, `marker "compatible"`},
		{"NoNumber", 2, "-- sluice: breaks-before\n", 0, `marker "breaks-before"`},
		{"TwoWords", 2, "-- sluice: additive breaks-before 2\n", 0, "marker"},
		{"NotANumber", 2, "-- sluice: breaks-before two\n", 0, `breaks-before "two"`},
		{"AfterItself", 6, "-- sluice: breaks-before 7\n", 0, "from 2 to 6"},
		{"One", 6, "-- sluice: breaks-before 1\n", 0, "is additive"},
		{"Negative", 6, "-- sluice: breaks-before -6\n", 0, "from 2 to 6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseMarker(tc.version, tc.sql)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("got error %v, want %d", err, tc.want)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %d, %v; want an error with %q", got, err, tc.err)
			case got != tc.want:
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

// FuzzParseMarker: any text gives a marker within the rules or an error,
// and a marker written out as a file's first line reads back the same.
func FuzzParseMarker(f *testing.F) {
	for _, s := range []string{"-- sluice: additive\n", "-- sluice: breaks-before 6\nSQL", "-- sluice: breaks-before 99", "--", "", "-- sluice: \x00"} {
		f.Add(6, s)
	}
	f.Fuzz(func(t *testing.T, version int, sql string) {
		n, err := ParseMarker(version, sql)
		if err != nil {
			return
		}
		if n != 0 && (n < 2 || n > version) {
			t.Fatalf("ParseMarker(%d, %q) = %d: outside 0 or 2..%d", version, sql, n, version)
		}
		marker := "-- sluice: additive"
		if n != 0 {
			marker = "-- sluice: breaks-before " + strconv.Itoa(n)
		}
		if again, err := ParseMarker(version, marker+"\n"); err != nil || again != n {
			t.Fatalf("%q reads back as %d, %v; want %d", marker, again, err, n)
		}
	})
}

func TestCheck(t *testing.T) {
	t.Parallel()
	t.Run("NothingNewer", func(t *testing.T) {
		t.Parallel()
		if err := Check("embedded store", "v1", 9, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("NewerAdditive", func(t *testing.T) {
		t.Parallel()
		if err := Check("embedded store", "v1", 9, []Applied{{Version: 10, By: "v2"}, {Version: 11, By: "v3"}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("NewerNeedsWhatItKnows", func(t *testing.T) {
		t.Parallel()
		if err := Check("embedded store", "v1", 9, []Applied{{Version: 10, BreaksBefore: 8, By: "v2"}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("NewerNotAdditive", func(t *testing.T) {
		t.Parallel()
		err := Check("embedded store", "v1.0.0", 9, []Applied{{Version: 10, By: "v1.1.0"}, {Version: 11, BreaksBefore: 11, By: "v1.2.0"}, {Version: 12, BreaksBefore: 10, By: "v1.3.0"}})
		var tooNew *TooNewError
		if !errors.As(err, &tooNew) {
			t.Fatalf("got %v, want a *TooNewError", err)
		}
		want := TooNewError{Store: "embedded store", Newest: 12, Needs: 11, NeedsBy: "v1.2.0", Known: 9, Release: "v1.0.0"}
		if *tooNew != want {
			t.Errorf("got %+v, want %+v", *tooNew, want)
		}
		const msg = `the embedded store schema is at migration 12 and needs a binary that knows migration 11 or later (sluice v1.2.0, which applied it, does); ` +
			`this binary, sluice v1.0.0, knows migrations up to 9 and changed nothing. Run sluice v1.2.0 or a later release ("sluice version" lists the migrations a binary knows), ` +
			`or restore the backup taken before the upgrade (docs/operations.md, "Rollback")`
		if err.Error() != msg {
			t.Errorf("got\n%s\nwant\n%s", err, msg)
		}
	})
	// Migrations applied before the markers were recorded have no release:
	// the error says which migration to look for.
	t.Run("NoRelease", func(t *testing.T) {
		t.Parallel()
		err := Check("PostgreSQL", "v1", 5, []Applied{{Version: 6, BreaksBefore: 6}})
		if err == nil || !strings.Contains(err.Error(), "Run a release that knows migration 6 (") || strings.Contains(err.Error(), "which applied it") {
			t.Fatalf("got %v", err)
		}
	})
}
