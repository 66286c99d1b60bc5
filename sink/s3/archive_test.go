package s3

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
)

// put stores body under key, as it is.
func (a *Archive) put(t *testing.T, key string, body []byte) {
	t.Helper()
	if _, err := a.client.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: &a.bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestArchive_Verify(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	// fill writes objects of the ranges given (first, last) with the sink
	// as node-1, and returns the archive.
	fill := func(t *testing.T, ranges ...[2]int) (*destination, *Archive) {
		d := newDestination(t)
		s := open(t, d.config("v"))
		for _, r := range ranges {
			if err := s.Deliver(context.Background(), records(sluicePos(r[0]), r[1]-r[0]+1, at, 0)); err != nil {
				t.Fatal(err)
			}
		}
		return d, d.archive(t, "v")
	}
	verify := func(t *testing.T, a *Archive) Report {
		t.Helper()
		var calls int
		rep, err := a.Verify(context.Background(), func(done, total int) { calls++ })
		if err != nil {
			t.Fatal(err)
		}
		if calls != rep.Objects {
			t.Fatalf("progress called %d times for %d objects", calls, rep.Objects)
		}
		return rep
	}
	kinds := func(rep Report) []string {
		var out []string
		for _, p := range rep.Problems {
			out = append(out, p.Kind)
		}
		return out
	}
	key := func(first, last int, node string) string {
		return ObjectName{Hour: at.Truncate(time.Hour), First: sluicePos(first), Last: sluicePos(last), Node: node}.Key("v")
	}

	t.Run("Good", func(t *testing.T) {
		_, a := fill(t, [2]int{5, 9}, [2]int{10, 10}, [2]int{11, 30})
		rep := verify(t, a)
		if len(rep.Problems) != 0 || rep.Objects != 3 || rep.Events != 26 || rep.First != 5 || rep.Last != 30 || rep.Bytes == 0 {
			t.Fatalf("%+v, want 3 objects of positions 5 to 30 and no problem", rep)
		}
	})
	t.Run("IncompleteUpload", func(t *testing.T) {
		_, a := fill(t, [2]int{1, 5})
		for _, k := range []string{key(6, 9, "node-1"), "elsewhere/" + key(6, 9, "node-1")} {
			if _, err := a.client.CreateMultipartUpload(context.Background(), &awss3.CreateMultipartUploadInput{Bucket: &a.bucket, Key: &k}); err != nil {
				t.Fatal(err)
			}
		}
		rep := verify(t, a)
		if len(rep.Problems) != 0 || rep.IncompleteUploads != 1 || rep.Objects != 1 {
			t.Fatalf("%+v, want one object, no problem, and the one upload left under the prefix counted", rep)
		}
	})
	t.Run("Gap", func(t *testing.T) {
		_, a := fill(t, [2]int{1, 9}, [2]int{15, 20})
		rep := verify(t, a)
		if !slices.Equal(kinds(rep), []string{ProblemGap}) || !strings.Contains(rep.Problems[0].Detail, "positions 10 to 14") || rep.Problems[0].Key != key(15, 20, "node-1") {
			t.Fatalf("%+v, want the gap 10 to 14 before the second object", rep.Problems)
		}
	})
	t.Run("Overlap", func(t *testing.T) {
		// After a crash between storing 1-9 and moving the checkpoint,
		// the next object starts at 1 again and ends elsewhere; a
		// takeover writes under another node's name.
		d, a := fill(t, [2]int{1, 9}, [2]int{1, 12}, [2]int{13, 20})
		s := open(t, d.config("v"))
		if err := s.Deliver(context.Background(), records(13, 8, at, 0)); err != nil { // the same name: replaced
			t.Fatal(err)
		}
		a.put(t, key(18, 25, "node-2"), objectOf(t, 18, 25, at))
		rep := verify(t, a)
		if !slices.Equal(kinds(rep), []string{ProblemOverlap, ProblemOverlap}) {
			t.Fatalf("%+v, want two overlaps", rep.Problems)
		}
		if p := rep.Problems[0]; p.Key != key(1, 9, "node-1") || !strings.Contains(p.Detail, "all its positions, 1 to 9, are also in "+key(1, 12, "node-1")) {
			t.Fatalf("%+v, want 1-9 covered by 1-12", p)
		}
		if p := rep.Problems[1]; p.Key != key(18, 25, "node-2") || !strings.Contains(p.Detail, "18 to 20") {
			t.Fatalf("%+v, want 18-25 overlapping 13-20 on 18 to 20", p)
		}
		if rep.Events != 9+12+8+8 || rep.Last != 25 {
			t.Fatalf("%+v", rep)
		}
	})
	t.Run("Corrupt", func(t *testing.T) {
		_, a := fill(t, [2]int{1, 3})
		good := objectOf(t, 4, 6, at)
		a.put(t, key(4, 6, "not-gzip"), []byte(`{"position":4}`))
		a.put(t, key(7, 9, "cut-short"), good[:len(good)-12])
		a.put(t, key(10, 12, "not-events"), gzipped("{\"position\":10,\"recorded_at\":\"2026-05-06T07:00:00Z\"}\nnot json\n"))
		a.put(t, key(13, 15, "wrong-name"), objectOf(t, 13, 14, at))
		a.put(t, key(16, 18, "disordered"), gzipped(string(lineOf(16, at))+string(lineOf(18, at))+string(lineOf(17, at))))
		a.put(t, key(19, 21, "wrong-hour"), objectOf(t, 19, 21, at.Add(time.Hour)))
		a.put(t, key(22, 24, "no-break"), gzipped(strings.TrimSuffix(string(objectLines(22, 24, at)), "\n")))
		a.put(t, "v/date=2026-05-06/hour=07/notes.txt", []byte("hello"))
		rep := verify(t, a)
		want := []string{ProblemStray, ProblemCorrupt, ProblemCorrupt, ProblemCorrupt, ProblemCorrupt, ProblemCorrupt, ProblemCorrupt, ProblemCorrupt}
		if !slices.Equal(kinds(rep), want) {
			t.Fatalf("%v, want %v", rep.Problems, want)
		}
		for i, node := range []string{"not-gzip", "cut-short", "not-events", "wrong-name", "disordered", "wrong-hour", "no-break"} {
			if p := rep.Problems[i+1]; !strings.Contains(p.Key, node) {
				t.Fatalf("problem %d is %v, want the object of %s", i+1, p, node)
			}
		}
	})
}

// sluicePos is an int as a position.
func sluicePos(p int) sluice.Position { return sluice.Position(p) }

// lineOf is an event's line at position p, committed at at.
func lineOf(p int, at time.Time) []byte {
	return append(records(sluicePos(p), 1, at, 0)[0].Body, '\n')
}

// objectLines is the NDJSON of the events first to last.
func objectLines(first, last int, at time.Time) []byte {
	var b []byte
	for p := first; p <= last; p++ {
		b = append(b, lineOf(p, at)...)
	}
	return b
}

// objectOf is the gzip of objectLines.
func objectOf(t *testing.T, first, last int, at time.Time) []byte {
	t.Helper()
	return gzipped(string(objectLines(first, last, at)))
}

func TestReadLines(t *testing.T) {
	var got []string
	err := ReadLines(bytes.NewReader(gzipped("a\n"+strings.Repeat("b", 100000)+"\n\nc\n")), func(b []byte) error { got = append(got, string(b)); return nil })
	if err != nil || !slices.Equal(got, []string{"a", strings.Repeat("b", 100000), "", "c"}) {
		t.Fatalf("%d lines, %v", len(got), err)
	}
	for _, bad := range [][]byte{[]byte("plain"), gzipped("no break"), gzipped("x\n")[:10]} {
		if err := ReadLines(bytes.NewReader(bad), func([]byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%q: %v, want ErrCorrupt", bad, err)
		}
	}
}
