package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
)

// batchOf is a JSON array of events of type typ, about n bytes in all.
func batchOf(typ string, n int) string {
	const each = 1000
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; b.Len() < n-each; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":%q,"data":%q}`, typ, strings.Repeat("x", each-40))
	}
	b.WriteByte(']')
	return b.String()
}

// reserved reads the bytes of the body budget reserved now, from /metrics.
func (h *harness) reserved() string {
	h.t.Helper()
	_, _, body := h.do(get("/metrics", readKey))
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "sluice_body_budget_reserved_bytes "); ok {
			return v
		}
	}
	h.t.Fatal("no sluice_body_budget_reserved_bytes in /metrics")
	return ""
}

// TestBodyBudget: with a budget of 1 MiB, a large body being read holds
// its Content-Length; another large one waits limits.body_wait and is
// answered 503 busy, as is a chunked one once its steps reach the large
// bodies' share, while small bodies are still read at once; once the first
// is read, large bodies are taken again.
func TestBodyBudget(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.BodyBudgetBytes = 1 << 20
	cfg.Limits.BodyWait = 200 * time.Millisecond
	h := newHarness(t, backends.SQLite(t), cfg)

	// A 700 KiB body of which only the first bytes come.
	held := batchOf("held", 700<<10)
	c, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /v1/events HTTP/1.1\r\nHost: sluice\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", writeKey, len(held), held[:1000])
	want := fmt.Sprint(len(held))
	testutil.Eventually(t, 5*time.Second, func() bool { return h.reserved() == want }, "the held body did not reserve its Content-Length")

	busy := func(name, body string, chunked bool) {
		t.Helper()
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = io.MultiReader(r) // no length known: sent chunked
		}
		req, _ := http.NewRequest("POST", h.url+"/v1/events", r)
		req.Header.Set("Authorization", "Bearer "+writeKey)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkContract(t, req, resp, answer)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(answer), `"code":"busy"`) || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s: %s, Retry-After %q: %s; want 503 busy with Retry-After", name, resp.Status, resp.Header.Get("Retry-After"), answer)
		}
		if took := time.Since(start); took < cfg.Limits.BodyWait {
			t.Fatalf("%s: refused after %s, before body_wait %s", name, took, cfg.Limits.BodyWait)
		}
	}
	busy("a second large body", batchOf("large", 300<<10), false)
	busy("a chunked body", batchOf("chunked", 300<<10), true)
	h.want(post("/v1/events", writeKey, `{"type":"small","data":1}`), http.StatusOK, nil)

	// The rest of the held body: it is read, stored, and gives its room
	// back.
	if _, err := io.WriteString(c, held[1000:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the held body: %s, want 200", resp.Status)
	}
	h.want(post("/v1/events", writeKey, batchOf("large", 300<<10)), http.StatusOK, nil)
	if got := h.reserved(); got != "0" {
		t.Fatalf("%s bytes reserved after every body was read, want 0", got)
	}
	_, _, metrics := h.do(get("/metrics", readKey))
	if !strings.Contains(string(metrics), `sluice_ingest_refused_total{reason="body_budget"} 2`) {
		t.Fatalf("metrics lack 2 refusals for body_budget")
	}
}
