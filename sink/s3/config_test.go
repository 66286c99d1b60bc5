package s3

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/awsconf"
)

func TestConfig_Validate(t *testing.T) {
	ok := Config{Bucket: "my-archive"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a bucket alone: %v", err)
	}
	bad := Config{Bucket: "My_Bucket", Prefix: "a//b", AWS: awsconf.Config{Region: "Europe", Endpoint: "minio:9000", AccessKeyID: "id", Profile: "p"},
		PartSize: 1 << 20, Timeout: -time.Second}
	err := bad.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{"bucket:", "prefix:", "region:", "endpoint:", "access_key_id, secret_access_key:", "profile:", "part_size:", "timeout:"}
	if len(lines) != len(want) {
		t.Fatalf("%d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Fatalf("problem %d is %q, want it to start with %q", i, lines[i], w)
		}
	}
	if err := (&Config{}).Validate(); err == nil || err.Error() != "bucket: required" {
		t.Fatalf("no bucket: %v", err)
	}
}

func TestConfig_Limits(t *testing.T) {
	l := (&Config{Bucket: "b"}).Limits()
	if l.Default.MaxBytes != 64<<20 || l.Default.Linger != 5*time.Minute || l.MaxBytes < 64<<30 {
		t.Fatalf("%+v: want objects of 64 MiB or 5 minutes by default, and up to 9000 parts of 8 MiB", l)
	}
}

func TestObjectName(t *testing.T) {
	n := ObjectName{Hour: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), First: 7, Last: 18446744073709551615, Node: "host-1_a"}
	key := n.Key("a/b")
	if key != "a/b/date=2026-12-03/hour=09/00000000000000000007_18446744073709551615_host-1_a.ndjson.gz" {
		t.Fatalf("key %s", key)
	}
	got, err := ParseKey("a/b", key)
	if err != nil || got != n {
		t.Fatalf("ParseKey(%s) = %+v, %v", key, got, err)
	}
	if got, err := ParseKey("", n.Key("")); err != nil || got != n {
		t.Fatalf("no prefix: %+v, %v", got, err)
	}
	for _, bad := range []string{
		"a/b/date=2026-12-03/hour=09/00000000000000000007_00000000000000000008_n.ndjson",
		"a/b/date=2026-12-03/hour=24/00000000000000000007_00000000000000000008_n.ndjson.gz",
		"a/b/date=2026-13-03/hour=09/00000000000000000007_00000000000000000008_n.ndjson.gz",
		"a/b/date=2026-12-03/hour=09/7_8_n.ndjson.gz",
		"a/b/date=2026-12-03/hour=09/00000000000000000009_00000000000000000008_n.ndjson.gz",
		"a/b/date=2026-12-03/hour=09/00000000000000000000_00000000000000000008_n.ndjson.gz",
		"a/b/date=2026-12-03/hour=09/00000000000000000007_00000000000000000008_.ndjson.gz",
		"a/b/date=2026-12-03/hour=09/00000000000000000007_00000000000000000008_a b.ndjson.gz",
		"a/b/date=2026-12-03/hour=09/x/00000000000000000007_00000000000000000008_n.ndjson.gz",
		"c/date=2026-12-03/hour=09/00000000000000000007_00000000000000000008_n.ndjson.gz",
	} {
		if n, err := ParseKey("a/b", bad); err == nil {
			t.Fatalf("ParseKey(%s) = %+v, want an error", bad, n)
		}
	}
	if got := nodeName("web 1/é"); got != "web-1--" {
		t.Fatalf("nodeName: %q", got)
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add(ObjectName{Hour: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), First: 1, Last: 9, Node: "n"}.Key("p"))
	f.Add("p/date=2026-01-02/hour=03/00000000000000000001_00000000000000000009_.ndjson.gz")
	f.Add("p/x")
	f.Fuzz(func(t *testing.T, key string) {
		n, err := ParseKey("p", key)
		if err != nil {
			return
		}
		if n.First == 0 || n.Last < n.First || n.Node == "" {
			t.Fatalf("%q parsed as %+v", key, n)
		}
		if again := n.Key("p"); again != key {
			t.Fatalf("%q parsed as %+v, named %q", key, n, again)
		}
	})
}

func FuzzReadLines(f *testing.F) {
	f.Add(gzipped("{\"position\":1}\n\n"))
	f.Add([]byte("plain"))
	f.Add(gzipped("no break"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := ReadLines(strings.NewReader(string(b)), func(line []byte) error {
			if strings.Contains(string(line), "\n") {
				t.Fatalf("a line with a line break: %q", line)
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("an error that is not ErrCorrupt: %v", err)
		}
	})
}
