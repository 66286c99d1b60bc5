package backupfile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTar_RoundTrip(t *testing.T) {
	var buf bytes.Buffer
	tw := NewTar(&buf)
	files := map[string]string{"sluice.db": "index", "segments/00000000000000000001.seg": "frames"}
	for name, body := range files {
		if err := tw.WriteFile(name, int64(len(body)), strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "restored")
	d, err := NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := Extract(&buf, d)
	if err != nil || n != len(files) {
		t.Fatalf("Extract: %d files, %v", n, err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || string(got) != body {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	if _, err := NewDir(root); err == nil {
		t.Error("NewDir of a directory that is not empty: no error")
	}
}

func TestCheckName(t *testing.T) {
	for _, name := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/", `a\b`, "."} {
		if CheckName(name) == nil {
			t.Errorf("CheckName(%q): accepted", name)
		}
	}
	for _, name := range []string{"sluice.db", "segments/1.seg"} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
}

// FuzzExtract: no stream writes a file outside the directory, and none
// makes Extract panic.
func FuzzExtract(f *testing.F) {
	var buf bytes.Buffer
	tw := NewTar(&buf)
	_ = tw.WriteFile("segments/1.seg", 3, strings.NewReader("abc"))
	_ = tw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		parent := t.TempDir()
		root := filepath.Join(parent, "r")
		d, err := NewDir(root)
		if err != nil {
			t.Fatal(err)
		}
		_, _, _ = Extract(bytes.NewReader(b), d)
		entries, err := os.ReadDir(parent)
		if err != nil || len(entries) != 1 {
			t.Fatalf("files outside the directory: %v %v", entries, err)
		}
	})
}

// FuzzCheckName: a name CheckName accepts stays inside the directory it
// is joined to.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"sluice.db", "segments/1.seg", "../x", "a/../b", "/abs", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name) != nil {
			return
		}
		rel, err := filepath.Rel("/root", filepath.Join("/root", filepath.FromSlash(name)))
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
			t.Fatalf("CheckName accepted %q, which lands at %q", name, rel)
		}
	})
}
