package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sqlite"
)

// printedKeys are the secrets of a key box in a log.
var printedKeys = regexp.MustCompile(`\b(admin|write)\s+(sk_(?:admin|write)_[a-z2-7]{52})\b`)

// printed returns the admin and write keys that the log shows, failing
// the test unless it shows both.
func printed(t *testing.T, log string) (admin, write string) {
	t.Helper()
	found := printedKeys.FindAllStringSubmatch(log, -1)
	if len(found) != 2 || found[0][1] != "admin" || found[1][1] != "write" {
		t.Fatalf("the admin and write keys are not printed; the log:\n%s", log)
	}
	return found[0][2], found[1][2]
}

func TestServe_GeneratedKeys(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	args := []string{"--listen", "127.0.0.1:0", "--data", dir}

	// The first start creates the keys and prints them once.
	first := newTestMain(nil)
	base, stop := serveInProcess(t, first, args...)
	admin, write := printed(t, first.stderr.String())
	expectStatus(t, http.StatusOK, "GET", base+"/v1/events", admin, "")
	expectStatus(t, http.StatusForbidden, "GET", base+"/v1/events", write, "")
	expectStatus(t, http.StatusUnauthorized, "GET", base+"/v1/events", "sk_admin_"+strings.Repeat("a", 52), "")
	// The generated write key may be used from any browser origin.
	req, _ := http.NewRequest("POST", base+"/v1/events?key="+write, strings.NewReader(`{"type":"page.viewed","data":{}}`))
	req.Header.Set("Origin", "https://anywhere.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "https://anywhere.example" {
		t.Errorf("the write key from a browser: status %d, Access-Control-Allow-Origin %q; want 200 and the origin", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	var created struct{ Secret string }
	if err := json.Unmarshal(expectStatus(t, http.StatusCreated, "POST", base+"/v1/keys", admin, `{"name":"ci","role":"read"}`), &created); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// The store keeps their hashes, and no file holds a secret.
	if _, err := os.Stat(filepath.Join(dir, keysFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s written (%v)", keysFile, err)
	}
	noSecretIn(t, dir, admin, write, created.Secret)
	store, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := store.ListKeys(context.Background())
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || !rs[0].Bootstrap || rs[0].Hash != sha256.Sum256([]byte(admin)) || rs[1].Hash != sha256.Sum256([]byte(created.Secret)) || rs[2].Hash != sha256.Sum256([]byte(write)) {
		t.Fatalf("the store keeps %+v, want the hashes of the bootstrap keys and of ci", rs)
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

// noSecretIn fails the test if a file under dir holds one of the secrets.
func noSecretIn(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret", path)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestServe_GeneratedKeysShared: two nodes on one PostgreSQL schema use the
// keys that the first generated; the second prints none.
func TestServe_GeneratedKeysShared(t *testing.T) {
	t.Parallel()
	url, schema := testutil.PostgresSchema(t)
	env := map[string]string{"SLUICE_STORE": url, "SLUICE_POSTGRES_SCHEMA": schema}
	first, second := newTestMain(env), newTestMain(env)
	base1, _ := serveInProcess(t, first, "--listen", "127.0.0.1:0", "--data", t.TempDir())
	admin, write := printed(t, first.stderr.String())
	base2, _ := serveInProcess(t, second, "--listen", "127.0.0.1:0", "--data", t.TempDir())
	for _, base := range []string{base1, base2} {
		expectStatus(t, http.StatusOK, "GET", base+"/v1/events", admin, "")
		expectStatus(t, http.StatusOK, "POST", base+"/v1/events", write, `{"type":"page.viewed","data":{}}`)
	}
	if log := second.stderr.String(); strings.Contains(log, "sk_") {
		t.Errorf("the second node prints keys:\n%s", log)
	}
	// Bootstrap keys are listed but cannot be revoked.
	expectStatus(t, http.StatusConflict, "DELETE", base2+"/v1/keys/write", admin, "")
	expectStatus(t, http.StatusOK, "POST", base1+"/v1/events", write, `{"type":"page.viewed","data":{}}`)
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
	store, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if rs, err := store.ListKeys(context.Background()); err != nil || len(rs) != 0 {
		t.Errorf("keys generated although keys are configured: %+v (%v)", rs, err)
	}
}

// TestServe_KeyRevokedAcrossProcesses runs two sluice processes on one
// PostgreSQL schema: a key created through the first works on the second,
// the table keeps its hash and never its secret, and once revoked through
// the first it is refused by the second within a second.
func TestServe_KeyRevokedAcrossProcesses(t *testing.T) {
	t.Parallel()
	url, schema := testutil.PostgresSchema(t)
	env := []string{"SLUICE_STORE=" + url, "SLUICE_POSTGRES_SCHEMA=" + schema}
	node1 := startBinary(t, env, "--data", t.TempDir())
	node2 := startBinary(t, env, "--data", t.TempDir())

	var created struct{ Secret string }
	body := expectStatus(t, http.StatusCreated, "POST", node1.base+"/v1/keys", testAdminKey, `{"name":"tracker","role":"write"}`)
	if err := json.Unmarshal(body, &created); err != nil || created.Secret == "" {
		t.Fatalf("created %s (%v)", body, err)
	}
	ingest := func(p *process) int {
		status, _ := call(t, "POST", p.base+"/v1/events", created.Secret, `{"type":"page.viewed","data":{}}`)
		return status
	}
	testutil.Eventually(t, time.Second, func() bool { return ingest(node2) == http.StatusOK },
		"the key created through node 1 is not accepted by node 2 within a second")

	// The table: the secret's hash, never the secret.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var row string
	var hash []byte
	table := pgx.Identifier{schema, "keys"}.Sanitize()
	if err := conn.QueryRow(ctx, "SELECT k::text, hash FROM "+table+" k WHERE name = 'tracker'").Scan(&row, &hash); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(created.Secret)); !bytes.Equal(hash, sum[:]) || strings.Contains(row, created.Secret) {
		t.Fatalf("the keys table holds %s, want the secret's SHA-256 and not the secret", row)
	}

	expectStatus(t, http.StatusOK, "DELETE", node1.base+"/v1/keys/tracker", testAdminKey, "")
	revoked := time.Now()
	testutil.Eventually(t, time.Second, func() bool { return ingest(node2) == http.StatusUnauthorized },
		"the key revoked through node 1 is still accepted by node 2 after a second")
	t.Logf("node 2 refuses the key %v after its revocation", time.Since(revoked).Round(time.Millisecond))
	if status := ingest(node1); status != http.StatusUnauthorized {
		t.Errorf("node 1 answers %d to the revoked key, want 401", status)
	}
}
