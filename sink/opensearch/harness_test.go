package opensearch

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil/fakebulk"
	"github.com/sluicehq/sluice/sinktest"
)

// newHarness is the opensearch sink for the conformance suite: a fake
// _bulk endpoint of the test's own (no OpenSearch server runs here).
// Received is its log of deliveries, every indexing of a document, in
// arrival order, besides the documents it keeps by index and id (where a
// re-delivery replaces the document). An outage answers every request
// 503; Refuse answers the refused documents' items 400 (a mapping error),
// Flaky their items 429.
func newHarness(t *testing.T) sinktest.Harness {
	srv := fakebulk.Start(t, fakebulk.Options{})
	return sinktest.Harness{
		Destination: &Config{URL: srv.URL},
		Fields:      map[string]any{"type": "opensearch", "url": srv.URL},
		Received: func(testing.TB) [][]byte {
			var out [][]byte
			for _, d := range srv.Deliveries() {
				out = append(out, d.Source)
			}
			return out
		},
		Outage: func(_ testing.TB, on bool) {
			if on {
				srv.Answer(http.StatusServiceUnavailable, "")
			} else {
				srv.Answer(0, "")
			}
		},
		Refuse: func(_ testing.TB, ids []string) { srv.Refuse(ids) },
		Flaky:  func(_ testing.TB, ids []string, times int) { srv.Flaky(ids, times, http.StatusTooManyRequests) },
	}
}

func TestConformance(t *testing.T) {
	sinktest.Run(t, newHarness, sinktest.Features{RecordRefusals: true})
}
