package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/sdk/js"
)

// TestSDKJS fetches /sdk.js with no key: JavaScript, cached a day, 304 for
// its ETag, gzipped for a client that accepts gzip (sdk/js tests the
// script itself in Chromium).
func TestSDKJS(t *testing.T) {
	h := newHarness(t, backends.SQLite(t), testConfig())
	code, hd, body := h.do(request{method: "GET", path: "/sdk.js", header: map[string]string{"Accept-Encoding": "identity"}})
	etag := hd.Get("ETag")
	if code != 200 || !bytes.Equal(body, js.Source) || hd.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		hd.Get("Cache-Control") != "public, max-age=86400" || etag == "" {
		t.Fatalf("GET /sdk.js: %d, headers %v, %d bytes: want 200, sluice.js, JavaScript, cached a day, an ETag", code, hd, len(body))
	}
	code, _, body = h.do(request{method: "GET", path: "/sdk.js", header: map[string]string{"Accept-Encoding": "identity", "If-None-Match": etag}})
	if code != http.StatusNotModified || len(body) != 0 {
		t.Errorf("GET /sdk.js with If-None-Match %s: %d, %d bytes, want 304 and no body", etag, code, len(body))
	}
	code, hd, body = h.do(request{method: "GET", path: "/sdk.js", header: map[string]string{"Accept-Encoding": "gzip, deflate, br"}})
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if code != 200 || err != nil || hd.Get("Content-Encoding") != "gzip" || hd.Get("ETag") == etag {
		t.Fatalf("GET /sdk.js accepting gzip: %d, headers %v, %v: want gzip with an ETag of its own", code, hd, err)
	}
	if plain, err := io.ReadAll(zr); err != nil || !bytes.Equal(plain, js.Source) {
		t.Errorf("the gzipped sluice.js does not unzip to sluice.js: %v", err)
	}
}
