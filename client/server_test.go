package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/testserver"
	"github.com/sluicehq/sluice/sqlite"
)

const (
	adminKey = "sk_admin_0123456789abcdef"
	writeKey = "sk_write_0123456789abcdef"
	readKey  = "sk_read_0123456789abcdefg"
)

// testConfig has an admin, a write and a read key.
func testConfig() httpapi.Config {
	return httpapi.Config{Keys: []httpapi.Key{
		{Name: "admin", Secret: adminKey, Role: httpapi.RoleAdmin},
		{Name: "collector", Secret: writeKey, Role: httpapi.RoleWrite},
		{Name: "reader", Secret: readKey, Role: httpapi.RoleRead},
	}}
}

// server is a real sluice server on a random port over the embedded store.
type server struct {
	*testserver.Server
	close func() error
}

// startServer starts a server over a store in dir. Its close stops the
// server, then closes the store.
func startServer(dir string, cfg httpapi.Config) (*server, error) {
	store, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	ts, err := testserver.Start(store, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return &server{Server: ts, close: func() error { return errors.Join(ts.Close(), store.Close()) }}, nil
}

// newServer starts a server of the test's own with testConfig, changed by
// configure, and stops it when the test ends.
func newServer(t testing.TB, configure ...func(*httpapi.Config)) *server {
	t.Helper()
	cfg := testConfig()
	for _, c := range configure {
		c(&cfg)
	}
	s, err := startServer(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.close(); err != nil {
			t.Errorf("stop the server: %v", err)
		}
	})
	return s
}

// put sends a raw PUT with the admin key (for what the client does not
// cover: schemas) and fails the test unless it succeeds.
func (s *server) put(t testing.TB, path, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("PUT %s: %d %s", path, resp.StatusCode, b)
	}
}

// The servers of the examples: each example gets one of its own (so that
// its output does not depend on the others, or on -count), in a directory
// that TestMain removes.
var examples struct {
	mu      sync.Mutex
	dir     string
	servers []*server
}

// exampleServer starts a server for an example and returns its URL and an
// admin key. TestMain stops it.
func exampleServer() (url, key string) {
	examples.mu.Lock()
	defer examples.mu.Unlock()
	if examples.dir == "" {
		dir, err := os.MkdirTemp("", "sluice-client-example-")
		if err != nil {
			panic(err)
		}
		examples.dir = dir
	}
	dir := fmt.Sprintf("%s/%d", examples.dir, len(examples.servers))
	s, err := startServer(dir, testConfig())
	if err != nil {
		panic(err)
	}
	examples.servers = append(examples.servers, s)
	return s.URL, adminKey
}

func TestMain(m *testing.M) {
	code := m.Run()
	examples.mu.Lock()
	for _, s := range examples.servers {
		if err := s.close(); err != nil {
			fmt.Fprintln(os.Stderr, "stop an example server:", err)
			code = 1
		}
	}
	if examples.dir != "" {
		os.RemoveAll(examples.dir)
	}
	examples.mu.Unlock()
	os.Exit(code)
}
