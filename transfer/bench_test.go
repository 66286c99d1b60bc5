package transfer_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/transfer"
)

// BenchmarkTransfer measures, in one run on the embedded store, with
// 200,000 events of the round-trip test (about 250 bytes each): the
// store's own batch figure (Append of ready batches of 1,000, the
// baseline), export of that log to an NDJSON file, and import of the file
// into an empty store; import_ratio is import's rate over the baseline's.
func BenchmarkTransfer(b *testing.B) {
	const n = 200_000
	batches := make([][]sluice.Event, 0, n/1000)
	for i := 0; i < n; i += 1000 {
		batch := make([]sluice.Event, 1000)
		for j := range batch {
			batch[j] = event(i + j)
		}
		batches = append(batches, batch)
	}
	var appendDur, exportDur, importDur time.Duration
	for b.Loop() {
		ctx := context.Background()
		from := openStore(b, b.TempDir())
		start := time.Now()
		for _, batch := range batches {
			if _, err := from.Append(ctx, []sluice.AppendRequest{{Events: append([]sluice.Event(nil), batch...)}}); err != nil {
				b.Fatal(err)
			}
		}
		appendDur += time.Since(start)
		path := filepath.Join(b.TempDir(), "events.ndjson")
		start = time.Now()
		export(b, from, path)
		exportDur += time.Since(start)
		to := openStore(b, b.TempDir())
		start = time.Now()
		importFile(b, path, false, &transfer.StoreTarget{Log: to}, nil)
		importDur += time.Since(start)
	}
	rate := func(d time.Duration) float64 { return float64(n*b.N) / d.Seconds() }
	b.ReportMetric(rate(appendDur), "append_events/s")
	b.ReportMetric(rate(exportDur), "export_events/s")
	b.ReportMetric(rate(importDur), "import_events/s")
	b.ReportMetric(appendDur.Seconds()/importDur.Seconds(), "import_ratio")
}
