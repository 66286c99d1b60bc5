//go:build no_ui

package console_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestHandler_NoUI(t *testing.T) {
	resp, err := http.Get(serve(t) + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "no_ui") {
		t.Errorf("GET /console/ built with no_ui: %d %q, want 404 saying so", resp.StatusCode, body)
	}
}
