package migrate

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	t.Run("Ordered", func(t *testing.T) {
		fsys := fstest.MapFS{
			"m/002_b.sql": {Data: []byte("B")},
			"m/001_a.sql": {Data: []byte("A")},
			"m/README.md": {Data: []byte("skip")},
			"m/010_c.sql": {Data: []byte("C")},
		}
		ms, err := Load(fsys, "m")
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 3 || ms[0].Version != 1 || ms[1].Version != 2 || ms[2].Version != 10 || ms[0].SQL != "A" {
			t.Fatalf("got %+v", ms)
		}
	})
	t.Run("BadName", func(t *testing.T) {
		if _, err := Load(fstest.MapFS{"m/init.sql": {}}, "m"); err == nil {
			t.Fatal("want an error for a name without a number")
		}
	})
	t.Run("DuplicateVersion", func(t *testing.T) {
		if _, err := Load(fstest.MapFS{"m/001_a.sql": {}, "m/1_b.sql": {}}, "m"); err == nil {
			t.Fatal("want an error for two files with version 1")
		}
	})
}
