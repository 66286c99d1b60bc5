package main

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// printedKeys are the secrets of a key box in a log.
var printedKeys = regexp.MustCompile(`\b(admin|write)\s+(sk_(?:admin|write)_[a-z2-7]{32})\b`)

func TestServe_GeneratedKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--listen", "127.0.0.1:0", "--data", dir}

	// The first start creates the keys and prints them once.
	first := newTestMain(nil)
	base, stop := serveInProcess(t, first, args...)
	found := printedKeys.FindAllStringSubmatch(first.stderr.String(), -1)
	if len(found) != 2 || found[0][1] != "admin" || found[1][1] != "write" {
		t.Fatalf("the admin and write keys are not printed; the log:\n%s", first.stderr)
	}
	admin, write := found[0][2], found[1][2]
	expectStatus(t, http.StatusOK, "GET", base+"/v1/events", admin, "")
	expectStatus(t, http.StatusForbidden, "GET", base+"/v1/events", write, "")
	expectStatus(t, http.StatusUnauthorized, "GET", base+"/v1/events", "sk_admin_"+strings.Repeat("a", 32), "")
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	fi, err := os.Stat(filepath.Join(dir, keysFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s has mode %v, want 0600", keysFile, perm)
	}
	b, err := os.ReadFile(filepath.Join(dir, keysFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), admin) || !strings.Contains(string(b), write) {
		t.Errorf("%s does not hold the printed keys:\n%s", keysFile, b)
	}

	// Later starts use them without printing.
	second := newTestMain(nil)
	base, stop = serveInProcess(t, second, args...)
	expectStatus(t, http.StatusOK, "GET", base+"/v1/events", admin, "")
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if log := second.stderr.String(); strings.Contains(log, "sk_") {
		t.Errorf("the second start prints keys:\n%s", log)
	}
}

func TestServe_EnvKeys(t *testing.T) {
	t.Parallel()
	const admin, write = "sk_admin_from_the_environment", "sk_write_from_the_environment"
	dir := filepath.Join(t.TempDir(), "data")
	tm := newTestMain(map[string]string{"SLUICE_ADMIN_KEY": admin, "SLUICE_WRITE_KEY": write})
	base, stop := serveInProcess(t, tm, "--listen", "127.0.0.1:0", "--data", dir)
	expectStatus(t, http.StatusOK, "GET", base+"/v1/events", admin, "")
	expectStatus(t, http.StatusForbidden, "GET", base+"/v1/events", write, "")
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if strings.Contains(tm.stderr.String(), "sk_") {
		t.Errorf("configured keys are printed:\n%s", tm.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, keysFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s written although keys are configured (%v)", keysFile, err)
	}
}
