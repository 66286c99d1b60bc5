package testutil

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv is the variable that names the test PostgreSQL.
const PostgresEnv = "SLUICE_TEST_POSTGRES"

// PostgresURL returns the test PostgreSQL's URL. Without SLUICE_TEST_POSTGRES
// the test is skipped, or fails when CI is set: CI must never pass by
// skipping.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(PostgresEnv)
	if url == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set, and CI is: PostgreSQL tests must run in CI", PostgresEnv)
		}
		tb.Skipf("%s is not set: skipping the PostgreSQL test", PostgresEnv)
	}
	return url
}

// PostgresSchema creates a schema of the test's own in the test PostgreSQL
// and drops it when the test ends. It returns the server's URL and the
// schema's name.
func PostgresSchema(tb testing.TB) (url, schema string) {
	tb.Helper()
	url = PostgresURL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = "sluice_test_" + hex.EncodeToString(b[:])
	exec := func(sql string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Fatalf("connect to test PostgreSQL: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			tb.Fatalf("%s: %v", sql, err)
		}
	}
	exec("CREATE SCHEMA " + schema)
	tb.Cleanup(func() { exec("DROP SCHEMA " + schema + " CASCADE") })
	return url, schema
}

// Eventually polls cond every few milliseconds until it holds, and fails
// the test with msg if it does not within timeout.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, msg string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("not within %s: %s", timeout, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// MountTmpfs mounts a tmpfs of size (as mount takes it: "48m") on a
// temporary directory, unmounted when the test ends, for tests of a full
// disk. Without the right to mount, the test is skipped, or fails under
// CI.
func MountTmpfs(tb testing.TB, size string) string {
	tb.Helper()
	dir := tb.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("mount a tmpfs: %v: %s", err, out)
		}
		tb.Skipf("cannot mount a tmpfs (%v: %s): skipping the disk-full test", err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Tool returns the path of the program name, for tests that run it (such
// as systemd-analyze or promtool). Without it the test is skipped, or
// fails under CI (.ci/run installs it).
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not installed, and CI is: .ci/run installs it", name)
		}
		tb.Skipf("%s is not installed: skipping", name)
	}
	return path
}

// FileSums returns the SHA-256 of every file under dir but LOCK (the
// embedded store's lock file), by path: two calls compare equal when no
// file was written, added or removed in between.
func FileSums(tb testing.TB, dir string) map[string][sha256.Size]byte {
	tb.Helper()
	sums := map[string][sha256.Size]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" {
			return err
		}
		b, err := os.ReadFile(path)
		sums[path] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return sums
}
