package opensearch

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil/fakebulk"
	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

// recorded is the time the tests' events were recorded at.
var recorded = time.Date(2026, 3, 7, 23, 59, 30, 0, time.FixedZone("CET", 3600))

// records makes n records of stored events, ids prefix-0, prefix-1 …,
// over three streams, their bodies their JSON.
func records(prefix string, n int) []sluice.SinkRecord {
	recs := make([]sluice.SinkRecord, n)
	for i := range recs {
		e := &sluice.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Type: "order.placed", Stream: fmt.Sprintf("s%d", i%3),
			Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)), Position: sluice.Position(i + 1), Version: 1, RecordedAt: recorded}
		recs[i] = sluice.SinkRecord{Event: e, Body: e.AppendJSON(nil)}
	}
	return recs
}

// open opens the sink of c and closes it when tb ends.
func open(tb testing.TB, c *Config) *Sink {
	tb.Helper()
	return sinktest.Open[*Sink](tb, c, sink.Env{Name: "test"})
}

// failedIndexes returns the indexes a *DeliveryError names, and which are
// permanent; it fails the test for another error.
func failedIndexes(t *testing.T, err error) (failed []int, permanent []bool) {
	t.Helper()
	var de *sluice.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("want a *sluice.DeliveryError, got %v", err)
	}
	for _, f := range de.Failed {
		failed = append(failed, f.Index)
		permanent = append(permanent, sluice.IsPermanent(f.Err))
	}
	return failed, permanent
}

func TestSink_Deliver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("Documents", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL + "/", Index: "orders-%Y-%m-%d.%H"})
		recs := records("doc", 4)
		if err := s.Deliver(ctx, recs); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		// 23:59:30 in CET is 22:59:30 UTC.
		const index = "orders-2026-03-07.22"
		if n := srv.Count(index); n != 4 {
			t.Fatalf("%s holds %d documents, want 4", index, n)
		}
		for _, r := range recs {
			src, version, ok := srv.Doc(index, r.Event.ID)
			if !ok || string(src) != string(r.Body) || version != 1 {
				t.Errorf("document %s: %s version %d (found %v), want %s version 1", r.Event.ID, src, version, ok, r.Body)
			}
		}
	})

	t.Run("AcrossMidnight", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL})
		recs := records("midnight", 3)
		recs[2].Event.RecordedAt = recorded.Add(2 * time.Hour) // 00:59:30 UTC on the 8th
		recs[1].Event.RecordedAt = recorded.Add(-24 * time.Hour)
		if err := s.Deliver(ctx, recs); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		for index, id := range map[string]string{"events-2026.03.07": "midnight-0", "events-2026.03.06": "midnight-1", "events-2026.03.08": "midnight-2"} {
			if _, _, ok := srv.Doc(index, id); !ok || srv.Count(index) != 1 {
				t.Errorf("%s holds %d documents (%s found: %v), want %s alone", index, srv.Count(index), id, ok, id)
			}
		}
	})

	t.Run("RedeliveryOverwrites", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL})
		recs := records("again", 3)
		for range 2 {
			if err := s.Deliver(ctx, recs); err != nil {
				t.Fatalf("deliver: %v", err)
			}
		}
		const index = "events-2026.03.07"
		if n := srv.Count(index); n != 3 {
			t.Errorf("%s holds %d documents after delivering 3 twice, want 3", index, n)
		}
		if _, version, _ := srv.Doc(index, "again-1"); version != 2 {
			t.Errorf("again-1 is at version %d, want 2 (indexed twice, replaced)", version)
		}
		if n := len(srv.Deliveries()); n != 6 {
			t.Errorf("%d deliveries logged, want 6", n)
		}
	})

	t.Run("BodiesAsTheyAre", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL, Index: "x"})
		recs := records("body", 3)
		// Data kept byte for byte, line breaks and all; a transform's
		// output; an id that JSON must escape.
		recs[0].Event.Data = json.RawMessage("{\n  \"a\": \"line\\nbreak\",\r\n  \"b\": [1,\n2]\n}")
		recs[0].Body = recs[0].Event.AppendJSON(nil)
		recs[1].Body = []byte(`{"shaped":"by jq","é":"\u00e9"}`)
		recs[2].Event.ID = `quote"back\slash` + "\t"
		recs[2].Body = recs[2].Event.AppendJSON(nil)
		if err := s.Deliver(ctx, recs); err != nil {
			t.Fatalf("deliver: %v", err)
		}
		for _, r := range recs {
			src, _, ok := srv.Doc("x", r.Event.ID)
			if !ok {
				t.Fatalf("no document %q", r.Event.ID)
			}
			var got, want any
			if json.Unmarshal(src, &got) != nil || json.Unmarshal(r.Body, &want) != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("document %q: %s, want the value of %s", r.Event.ID, src, r.Body)
			}
		}
	})

	t.Run("PartialFailure", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL})
		recs := records("part", 6)
		srv.Refuse([]string{"part-1"})
		srv.Flaky([]string{"part-3"}, 1, http.StatusTooManyRequests)
		err := s.Deliver(ctx, recs)
		failed, permanent := failedIndexes(t, err)
		if fmt.Sprint(failed, permanent) != "[1 3] [true false]" {
			t.Fatalf("failed %v (permanent %v), want [1 3] [true false]: %v", failed, permanent, err)
		}
		if !strings.Contains(err.Error(), "mapper_parsing_exception") {
			t.Errorf("the error does not say why: %v", err)
		}
		if n := srv.Count("events-2026.03.07"); n != 4 {
			t.Errorf("%d documents indexed, want the 4 that did not fail", n)
		}
		if err := s.Deliver(ctx, recs[3:4]); err != nil {
			t.Errorf("the 429 document again: %v", err)
		}
	})

	t.Run("ShardUnavailable", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL})
		srv.Flaky([]string{"shard-0"}, 1, http.StatusServiceUnavailable)
		failed, permanent := failedIndexes(t, s.Deliver(ctx, records("shard", 2)))
		if fmt.Sprint(failed, permanent) != "[0] [false]" {
			t.Errorf("failed %v (permanent %v), want [0] [false]", failed, permanent)
		}
	})

	t.Run("EveryItemRetryable", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL})
		srv.Flaky([]string{"all-0", "all-1"}, 1, http.StatusTooManyRequests)
		err := s.Deliver(ctx, records("all", 2))
		var de *sluice.DeliveryError
		if err == nil || errors.As(err, &de) || sluice.IsPermanent(err) {
			t.Errorf("every item 429: %v, want a plain retryable error (the breaker counts it)", err)
		}
	})

	t.Run("EmptyBody", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL})
		recs := records("empty", 3)
		recs[1].Body = []byte(" \n")
		failed, permanent := failedIndexes(t, s.Deliver(ctx, recs))
		if fmt.Sprint(failed, permanent) != "[1] [true]" {
			t.Errorf("failed %v (permanent %v), want [1] [true]", failed, permanent)
		}
		if n := srv.Count("events-2026.03.07"); n != 2 {
			t.Errorf("%d documents, want 2", n)
		}
		failed, _ = failedIndexes(t, s.Deliver(ctx, recs[1:2]))
		if fmt.Sprint(failed) != "[0]" || srv.Requests() != 1 {
			t.Errorf("a batch of one empty body: failed %v after %d requests, want [0] and no request", failed, srv.Requests())
		}
	})

	t.Run("NotAnObject", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL})
		recs := records("scalar", 2)
		recs[0].Body = []byte(`[1,2]`) // a transform's output that is no document
		failed, permanent := failedIndexes(t, s.Deliver(ctx, recs))
		if fmt.Sprint(failed, permanent) != "[0] [true]" {
			t.Errorf("failed %v (permanent %v), want [0] [true]", failed, permanent)
		}
	})

	t.Run("WholeRequest", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			status     int
			retryAfter string
			permanent  bool
			wait       time.Duration
		}{
			{http.StatusTooManyRequests, "7", false, 7 * time.Second},
			{http.StatusServiceUnavailable, "", false, 0},
			{http.StatusInternalServerError, "", false, 0},
			{http.StatusGatewayTimeout, "2", false, 2 * time.Second},
			{http.StatusRequestTimeout, "", false, 0},
			{http.StatusUnauthorized, "", false, 0},
			{http.StatusForbidden, "", false, 0},
			{http.StatusNotFound, "", false, 0},
			{http.StatusBadRequest, "", true, 0},
			{http.StatusRequestEntityTooLarge, "", true, 0},
			{http.StatusConflict, "", true, 0},
		} {
			t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
				t.Parallel()
				srv := fakebulk.Start(t, fakebulk.Options{})
				s := open(t, &Config{URL: srv.URL})
				srv.Answer(tt.status, tt.retryAfter)
				err := s.Deliver(ctx, records("whole", 3))
				var de *sluice.DeliveryError
				switch {
				case err == nil || errors.As(err, &de):
					t.Fatalf("%d: %v, want the error of the whole request", tt.status, err)
				case sluice.IsPermanent(err) != tt.permanent:
					t.Errorf("%d: permanent %v, want %v: %v", tt.status, sluice.IsPermanent(err), tt.permanent, err)
				case sluice.RetryAfterOf(err) != tt.wait:
					t.Errorf("%d: retry after %v, want %v", tt.status, sluice.RetryAfterOf(err), tt.wait)
				case !strings.Contains(err.Error(), "fakebulk_exception"):
					t.Errorf("%d: the error does not carry OpenSearch's: %v", tt.status, err)
				}
				if tt.status == http.StatusRequestEntityTooLarge && !strings.Contains(err.Error(), "batch.max_bytes") {
					t.Errorf("413 does not say what to do: %v", err)
				}
			})
		}
	})

	t.Run("WholeRequestWithAnEmptyBody", func(t *testing.T) {
		t.Parallel()
		srv := fakebulk.Start(t, fakebulk.Options{})
		s := open(t, &Config{URL: srv.URL})
		srv.Answer(http.StatusServiceUnavailable, "")
		recs := records("mixed", 3)
		recs[2].Body = nil
		failed, permanent := failedIndexes(t, s.Deliver(ctx, recs))
		if fmt.Sprint(failed, permanent) != "[0 1 2] [false false true]" {
			t.Errorf("failed %v (permanent %v), want [0 1 2] [false false true]", failed, permanent)
		}
	})

	t.Run("Unreachable", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		s := open(t, &Config{URL: url})
		if err := s.Deliver(ctx, records("down", 1)); err == nil || sluice.IsPermanent(err) {
			t.Errorf("connection refused: %v, want a retryable error", err)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select { // a cluster that does not answer
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		s := open(t, &Config{URL: srv.URL, Timeout: 50 * time.Millisecond})
		start := time.Now()
		err := s.Deliver(ctx, records("stall", 1))
		if err == nil || sluice.IsPermanent(err) || time.Since(start) > 10*time.Second {
			t.Errorf("a stalled request: %v after %v, want a retryable error after the timeout", err, time.Since(start))
		}
	})
}

// TestSink_Answers are answers that fakebulk does not give: what a proxy
// or a broken server might send with 200.
func TestSink_Answers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, answer string
		status       int
	}{
		{"NotJSON", "<html>ok</html>", http.StatusOK},
		{"FewerItems", `{"errors":false,"items":[{"index":{"status":201}}]}`, http.StatusOK},
		{"NoItems", `{"errors":false}`, http.StatusOK},
		{"ItemWithoutStatus", `{"errors":false,"items":[{"index":{}},{"index":{"status":201}}]}`, http.StatusOK},
		{"Truncated", `{"errors":false,"items":[{"index":{"status":201}},{"ind`, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.answer))
			}))
			t.Cleanup(srv.Close)
			s := open(t, &Config{URL: srv.URL})
			err := s.Deliver(context.Background(), records("odd", 2))
			var de *sluice.DeliveryError
			if err == nil || errors.As(err, &de) || sluice.IsPermanent(err) {
				t.Errorf("%s: %v, want a retryable error of the whole batch", tt.answer, err)
			}
		})
	}

	t.Run("ErrorsFlagIsNotTrustedAlone", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"errors":false,"items":[{"index":{"status":201}},{"index":{"status":429,"error":{"type":"rejected_execution_exception"}}}]}`))
		}))
		t.Cleanup(srv.Close)
		s := open(t, &Config{URL: srv.URL})
		failed, permanent := failedIndexes(t, s.Deliver(context.Background(), records("flag", 2)))
		if fmt.Sprint(failed, permanent) != "[1] [false]" {
			t.Errorf("failed %v (permanent %v), want [1] [false]", failed, permanent)
		}
	})

	t.Run("Redirect", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.RedirectHandler("https://elsewhere.example/_bulk", http.StatusMovedPermanently))
		t.Cleanup(srv.Close)
		s := open(t, &Config{URL: srv.URL})
		err := s.Deliver(context.Background(), records("moved", 1))
		if !sluice.IsPermanent(err) || !strings.Contains(err.Error(), "elsewhere.example") {
			t.Errorf("a redirect: %v, want a permanent error naming where it points", err)
		}
	})
}

func TestSink_Authentication(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		want   string // the header the server requires
		config Config
	}{
		{"Basic", "Basic YWRtaW46czNjcmV0Og==", Config{Username: "admin", Password: "s3cret:"}},
		{"APIKey", "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
			Config{APIKey: "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := fakebulk.Start(t, fakebulk.Options{Authorization: tt.want})
			c := tt.config
			c.URL = srv.URL
			if err := open(t, &c).Deliver(ctx, records("auth", 2)); err != nil {
				t.Errorf("with the credentials: %v", err)
			}
			err := open(t, &Config{URL: srv.URL, Username: "admin", Password: "wrong"}).Deliver(ctx, records("auth", 2))
			if err == nil || sluice.IsPermanent(err) || !strings.Contains(err.Error(), "401") {
				t.Errorf("wrong credentials: %v, want a retryable 401 (an operator fixes them; the records wait)", err)
			}
		})
	}
}

func TestSink_TLS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := fakebulk.Start(t, fakebulk.Options{TLS: true})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := open(t, &Config{URL: srv.URL, TLS: sink.TLS{CAFile: ca}}).Deliver(ctx, records("tls", 1)); err != nil {
		t.Errorf("with the server's CA: %v", err)
	}
	if err := open(t, &Config{URL: srv.URL, TLS: sink.TLS{InsecureSkipVerify: true}}).Deliver(ctx, records("tls", 1)); err != nil {
		t.Errorf("insecure_skip_verify: %v", err)
	}
	err := open(t, &Config{URL: srv.URL}).Deliver(ctx, records("tls", 1))
	if err == nil || sluice.IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA: %v, want a retryable certificate error", err)
	}
	if srv.Count("events-2026.03.07") != 1 {
		t.Errorf("%d documents, want 1", srv.Count("events-2026.03.07"))
	}
}
