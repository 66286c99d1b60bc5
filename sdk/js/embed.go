package js

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

// Source is sluice.js as served.
//
//go:embed sluice.js
var Source []byte

// Handler serves Source as JavaScript. Browsers keep it a day and then
// revalidate it with its ETag (304 when unchanged), so a new version
// reaches them within a day of an upgrade.
func Handler() http.Handler {
	sum := sha256.Sum256(Source)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(Source) // writes to memory do not fail
	_ = zw.Close()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=86400")
		h.Set("Vary", "Accept-Encoding")
		body, tag := Source, etag
		// Every browser accepts gzip; nobody sends gzip;q=0.
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			h.Set("Content-Encoding", "gzip")
			body, tag = gz.Bytes(), etag[:len(etag)-1]+`-gzip"`
		}
		h.Set("ETag", tag)
		http.ServeContent(w, r, "sluice.js", time.Time{}, bytes.NewReader(body))
	})
}
