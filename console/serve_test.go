package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/console"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testserver"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sink/file"
)

const (
	adminKey = "sk_admin_0123456789abcdef"
	writeKey = "sk_write_0123456789abcdef"
)

// serve starts sluice's API over a SQLite store, with one sink (archive,
// a file sink) running and the console mounted as serve mounts it, and
// returns its base URL.
func serve(t *testing.T) string {
	t.Helper()
	store := backends.SQLite(t)
	fc := file.Config{Path: filepath.Join(t.TempDir(), "archive.ndjson")}
	if err := fc.Validate(); err != nil {
		t.Fatal(err)
	}
	dest, err := fc.Open(context.Background(), sink.Env{Name: "archive", Node: "node-a", Logger: slog.Default()})
	if err != nil {
		t.Fatal(err)
	}
	r, err := sink.NewRunner(store, dest, sink.Config{Name: "archive", Type: "file", LeaseTTL: time.Second}, fc.Limits(), sink.RunnerOptions{Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	sinks := sink.NewManager(store, nil)
	if err := sinks.Add(r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sinks.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	s := testserver.New(t, store, httpapi.Config{Keys: []httpapi.Key{
		{Name: "admin", Secret: adminKey, Role: httpapi.RoleAdmin},
		{Name: "web", Secret: writeKey, Role: httpapi.RoleWrite},
	}, Schemas: httpapi.SchemaPolicy{QuarantineDurable: true}}, httpapi.WithSinks(sinks))
	mux := http.NewServeMux()
	mux.Handle("/console/", console.Handler())
	mux.Handle("/", s.API)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}
