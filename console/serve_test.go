package console_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/console"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testserver"
)

const (
	adminKey = "sk_admin_0123456789abcdef"
	writeKey = "sk_write_0123456789abcdef"
)

// serve starts sluice's API over a SQLite store with the console mounted
// as serve mounts it, and returns its base URL.
func serve(t *testing.T) string {
	t.Helper()
	s := testserver.New(t, backends.SQLite(t), httpapi.Config{Keys: []httpapi.Key{
		{Name: "admin", Secret: adminKey, Role: httpapi.RoleAdmin},
		{Name: "web", Secret: writeKey, Role: httpapi.RoleWrite},
	}, Schemas: httpapi.SchemaPolicy{QuarantineDurable: true}})
	mux := http.NewServeMux()
	mux.Handle("/console/", console.Handler())
	mux.Handle("/", s.API)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL
}
