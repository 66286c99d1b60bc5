package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/testserver"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/sqlite"
)

// accessLine is one line of the access log.
type accessLine struct {
	Msg        string   `json:"msg"`
	Method     string   `json:"method"`
	Path       string   `json:"path"`
	Status     int      `json:"status"`
	DurationMS *float64 `json:"duration_ms"`
	Bytes      int      `json:"bytes"`
	Key        string   `json:"key"`
	Remote     string   `json:"remote"`
	TraceID    string   `json:"trace_id"`
}

// accessServer is the API, on an embedded store, with that access log, logging in JSON to the
// returned buffer.
func accessServer(t *testing.T, access httpapi.AccessLog, opts ...httpapi.Option) (http.Handler, *testutil.LogBuffer) {
	t.Helper()
	log := testutil.NewLogBuffer()
	cfg := testConfig()
	cfg.AccessLog = access
	store, err := sqlite.Open(context.Background(), sqlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s, err := testserver.Start(store, cfg, slog.New(slog.NewJSONHandler(log, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s.API, log
}

// serveAll sends each request to h in this goroutine (so that its line, if
// any, is written when it returns) and returns the answers' body sizes.
func serveAll(h http.Handler, reqs []*http.Request) []int {
	sizes := make([]int, len(reqs))
	for i, r := range reqs {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		sizes[i] = rec.Body.Len()
	}
	return sizes
}

// accessLines are the "request" lines of log.
func accessLines(t *testing.T, log string) []accessLine {
	t.Helper()
	var lines []accessLine
	for l := range strings.Lines(log) {
		var a accessLine
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("a log line is not JSON: %v: %s", err, l)
		}
		if a.Msg == "request" {
			lines = append(lines, a)
		}
	}
	return lines
}

func testRequests() []*http.Request {
	ingest := httptest.NewRequest("POST", "/v1/events?key="+writeKey, strings.NewReader(`{"type":"page.viewed","data":{}}`))
	ingest.Header.Set("Content-Type", "application/json")
	read := httptest.NewRequest("GET", "/v1/events?after=0", nil)
	read.Header.Set("Authorization", "Bearer "+adminKey)
	wrongRole := httptest.NewRequest("GET", "/v1/events", nil)
	wrongRole.Header.Set("Authorization", "Bearer "+writeKey)
	return []*http.Request{
		ingest,
		read,
		wrongRole,
		httptest.NewRequest("GET", "/v1/projects/"+browserKey+"/settings", nil),
		httptest.NewRequest("GET", "/nowhere", nil),
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()

	t.Run("Every", func(t *testing.T) {
		t.Parallel()
		h, log := accessServer(t, httpapi.AccessLog{Enabled: true, Sample: 1})
		sizes := serveAll(h, testRequests())
		want := []accessLine{
			{Method: "POST", Path: "/v1/events", Status: 200, Key: "web"},
			{Method: "GET", Path: "/v1/events", Status: 200, Key: "admin"},
			{Method: "GET", Path: "/v1/events", Status: 403, Key: "web"},
			{Method: "GET", Path: "/v1/projects/{writeKey}/settings", Status: 200},
			{Method: "GET", Path: "/nowhere", Status: 404},
		}
		got := accessLines(t, log.String())
		if len(got) != len(want) {
			t.Fatalf("%d access lines, want %d:\n%s", len(got), len(want), log)
		}
		for i, w := range want {
			g := got[i]
			if g.Method != w.Method || g.Path != w.Path || g.Status != w.Status || g.Key != w.Key {
				t.Errorf("line %d: %s %s %d key %q, want %s %s %d key %q", i, g.Method, g.Path, g.Status, g.Key, w.Method, w.Path, w.Status, w.Key)
			}
			if g.Bytes != sizes[i] || g.Bytes == 0 {
				t.Errorf("line %d: bytes %d, the answer had %d", i, g.Bytes, sizes[i])
			}
			if g.DurationMS == nil || *g.DurationMS < 0 {
				t.Errorf("line %d: no duration_ms", i)
			}
			if g.Remote != "192.0.2.1:1234" {
				t.Errorf("line %d: remote %q, want httptest's 192.0.2.1:1234", i, g.Remote)
			}
		}
		for _, secret := range []string{writeKey, adminKey, browserKey} {
			if strings.Contains(log.String(), secret) {
				t.Errorf("the log holds the secret %s:\n%s", secret, log)
			}
		}
	})

	for _, tc := range []struct {
		name   string
		access httpapi.AccessLog
	}{
		{"SampleZero", httpapi.AccessLog{Enabled: true, Sample: 0}},
		{"Disabled", httpapi.AccessLog{Enabled: false, Sample: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, log := accessServer(t, tc.access)
			serveAll(h, testRequests())
			if got := accessLines(t, log.String()); len(got) != 0 {
				t.Errorf("%d access lines, want none:\n%s", len(got), log)
			}
		})
	}

	t.Run("SampleHalf", func(t *testing.T) {
		t.Parallel()
		h, log := accessServer(t, httpapi.AccessLog{Enabled: true, Sample: 0.5})
		const n = 400
		reqs := make([]*http.Request, n)
		for i := range reqs {
			reqs[i] = httptest.NewRequest("GET", "/healthz", nil)
		}
		serveAll(h, reqs)
		// Binomial(400, 0.5): outside [140, 260] with probability < 1e-9.
		if got := len(accessLines(t, log.String())); got < 140 || got > 260 {
			t.Errorf("%d of %d requests logged at sample 0.5", got, n)
		}
	})

	t.Run("Validate", func(t *testing.T) {
		t.Parallel()
		for _, sample := range []float64{-0.1, 1.5} {
			cfg := testConfig()
			cfg.AccessLog = httpapi.AccessLog{Enabled: true, Sample: sample}
			err := cfg.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), "access_log.sample: ") {
				t.Errorf("sample %v: Validate() = %v, want an access_log.sample problem", sample, err)
			}
		}
	})
}

// The access log's cost per request, against the same server without it:
// go test -run '^$' -bench BenchmarkAccessLog -benchtime 20000x -count 3 -p 1 ./httpapi/
func BenchmarkAccessLog(b *testing.B) {
	for _, bc := range []struct {
		name   string
		access httpapi.AccessLog
	}{
		{"Off", httpapi.AccessLog{}},
		{"Every", httpapi.AccessLog{Enabled: true, Sample: 1}},
		{"OneInHundred", httpapi.AccessLog{Enabled: true, Sample: 0.01}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			store, err := sqlite.Open(context.Background(), sqlite.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			cfg := testConfig()
			cfg.AccessLog = bc.access
			s, err := testserver.Start(store, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := httptest.NewRequest("GET", "/v1/schemas", nil)
			r.Header.Set("Authorization", "Bearer "+adminKey)
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.API.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
