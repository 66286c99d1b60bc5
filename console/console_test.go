//go:build !no_ui

package console_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil/npmpeers"
)

var errNoChromium = fmt.Errorf("chromium (/usr/bin/chromium; .ci/run installs it with apt-get): %w", npmpeers.ErrNotInstalled)

func TestHandler_ServesTheAssets(t *testing.T) {
	base := serve(t)
	for path, want := range map[string]string{
		"/console/":                         "<title>sluice console</title>",
		"/console/app.js":                   "import",
		"/console/vendor/uPlot.iife.min.js": "uPlot",
		"/console/vendor/uPlot.min.css":     ".uplot",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(want)) {
			t.Errorf("GET %s: %d, want 200 with %q", path, resp.StatusCode, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q keeps requests to other hosts possible", path, csp)
		}
	}
	resp, err := http.Get(base + "/console/nothing.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /console/nothing.js: %d, want 404", resp.StatusCode)
	}
}

// result is what testdata/console.cjs saw.
type result struct {
	Outside              []string
	Errors               []string
	KeyInSession         string
	HeadBefore           string
	HeadAfter            string
	Charts               int
	TailMillis           int
	TailJSON             struct{ ID, Type string }
	TailTypesAfterFilter []string
	SecretPrefix         string
	WithNewKey           int
	RevokedStatus        int
	RefusedMillis        int
	SchemaError          string
	SchemaOK             string
	SchemaViewed         struct {
		Properties struct{ Total struct{ Type string } }
	}
	QuarantineRow    string
	ReplayFailed     string
	Replayed         string
	QuarantineLeft   int
	StreamsFound     []string
	StreamFirstPage  int
	StreamBothPages  int
	StreamNextHidden bool
	SubscriptionLag  int
	SubscriptionHead int
	ReplayResult     string
	PhoneOverflow    bool
	KeyAfterLogout   *string
	KeyAfterRevoke   *string
}

// TestConsole_InChromium logs in to the console in a real browser and
// uses each page: the overview moves, an event shows in the live tail
// within a second, a key is created, used and revoked, a broken schema's
// error shows in place. Screenshots go to $CONSOLE_SHOTS (default: a
// temporary folder).
func TestConsole_InChromium(t *testing.T) {
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		npmpeers.Skip(t, errNoChromium)
	}
	shots := os.Getenv("CONSOLE_SHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	base := serve(t)
	out := npmpeers.Run(t, "testdata/console.cjs", []string{"playwright-core"},
		"CONSOLE_URL="+base, "ADMIN_KEY="+adminKey, "WRITE_KEY="+writeKey, "SHOTS="+shots)
	var r result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("console.cjs printed %q: %v", out, err)
	}
	if len(r.Outside) > 0 {
		t.Errorf("the console made requests beyond its sluice: %v", r.Outside)
	}
	if len(r.Errors) > 0 {
		t.Errorf("errors in the page: %v", r.Errors)
	}
	if r.KeyInSession != adminKey || r.KeyAfterLogout != nil {
		t.Errorf("sessionStorage held %q after login and %v after logout, want the admin key, then nothing", r.KeyInSession, r.KeyAfterLogout)
	}
	if r.KeyAfterRevoke != nil {
		t.Errorf("sessionStorage still holds %q after the key was revoked", *r.KeyAfterRevoke)
	}
	if r.HeadAfter != "5" || r.Charts != 6 {
		t.Errorf("overview: head %q -> %q with %d charts, want 5 after five events, and 6 charts (the sink's lag the sixth)", r.HeadBefore, r.HeadAfter, r.Charts)
	}
	if r.TailMillis > 1000 || r.TailJSON.ID != "tail-1" || r.TailJSON.Type != "console.tested" {
		t.Errorf("live tail: the event showed after %d ms with JSON %+v, want within 1000 ms, id tail-1", r.TailMillis, r.TailJSON)
	}
	for _, typ := range r.TailTypesAfterFilter {
		if typ != "console.kept" {
			t.Errorf("live tail filtered on console.kept shows %v", r.TailTypesAfterFilter)
			break
		}
	}
	if r.SecretPrefix != "sk_write_" || r.WithNewKey != 200 || r.RevokedStatus != 401 {
		t.Errorf("keys: secret %q…, stored with it: %d, after revoking: %d; want sk_write_…, 200, 401", r.SecretPrefix, r.WithNewKey, r.RevokedStatus)
	}
	if !strings.Contains(r.SchemaError, "/properties/total/type") || !strings.Contains(r.SchemaOK, "version 1") {
		t.Errorf("schemas: error %q (want the server's compile error, naming the bad member), then %q", r.SchemaError, r.SchemaOK)
	}
	if r.SchemaViewed.Properties.Total.Type != "number" {
		t.Errorf("schemas: viewing order.placed shows %+v, want its total a number", r.SchemaViewed)
	}
	if !strings.Contains(r.QuarantineRow, "/total") || !strings.Contains(r.ReplayFailed, "/total") {
		t.Errorf("quarantine: row %q and failed replay %q, want the error at /total in both", r.QuarantineRow, r.ReplayFailed)
	}
	if !strings.HasPrefix(r.Replayed, "Replayed 1,") || r.QuarantineLeft != 0 {
		t.Errorf("quarantine: replay after the schema's fix said %q with %d left, want 1 replayed and none left", r.Replayed, r.QuarantineLeft)
	}
	var stored struct{ Events []struct{ ID string } }
	getJSON(t, base+"/v1/events?type=order.placed", &stored)
	if len(stored.Events) != 1 || stored.Events[0].ID != "q-1" {
		t.Errorf("order.placed events in the log: %+v, want q-1 (replayed) alone", stored.Events)
	}
	if want := []string{"console-console.dropped", "console-console.kept", "console-console.keyed", "console-console.paused", "console-console.tested"}; !slices.Equal(r.StreamsFound, want) {
		t.Errorf("streams: the prefix console-console. lists %v, want %v", r.StreamsFound, want)
	}
	if r.StreamFirstPage != 20 || r.StreamBothPages != 25 || !r.StreamNextHidden {
		t.Errorf("streams: a stream of 25 read as %d, then %d events (next page hidden: %v), want 20, then 25 and no next page", r.StreamFirstPage, r.StreamBothPages, r.StreamNextHidden)
	}
	if r.SubscriptionLag == 0 || r.SubscriptionLag != r.SubscriptionHead {
		t.Errorf("subscriptions: a subscription from the beginning shows a lag of %d, want the whole log (%d)", r.SubscriptionLag, r.SubscriptionHead)
	}
	if !strings.HasPrefix(r.ReplayResult, "archive: replay done") {
		t.Errorf("sinks: the replay said %q", r.ReplayResult)
	}
	if r.PhoneOverflow {
		t.Error("on a phone's screen the overview is wider than the screen")
	}
	t.Logf("event in the live tail after %d ms; revoked key refused after %d ms; screenshots in %s", r.TailMillis, r.RefusedMillis, shots)
	for _, name := range []string{"overview.png", "tail.png", "keys.png", "schemas.png", "quarantine.png", "streams.png", "delivery.png", "phone.png"} {
		if fi, err := os.Stat(filepath.Join(shots, name)); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot %s: %v", name, err)
		}
	}
}

// getJSON decodes the answer of GET url with the admin key into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
}
