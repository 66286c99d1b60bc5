package console

import "net/http"

// csp keeps every request of the console on the sluice that served it:
// no external scripts, styles, fonts or connections.
const csp = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the console under /console/ (mount it at that path).
// Built with the no_ui tag, it answers 404 with a sentence that says so.
func Handler() http.Handler {
	if assets == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "this sluice was built with the no_ui tag: the console is left out", http.StatusNotFound)
		})
	}
	files := http.StripPrefix("/console/", http.FileServerFS(assets))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // revalidated: a new binary's assets show at once
		files.ServeHTTP(w, r)
	})
}
