package bench_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/bench"
	"github.com/sluicehq/sluice/internal/testserver"
)

const adminKey = "sk_admin_bench_test_0123456789"

// TestSubscribe runs the subscription benchmark briefly against a real
// server: every event ingested is delivered and measured, and the waits
// are matched to acknowledgements.
func TestSubscribe(t *testing.T) {
	store := backends.SQLite(t)
	ts := testserver.New(t, store, httpapi.Config{Keys: []httpapi.Key{{Name: "admin", Secret: adminKey, Role: httpapi.RoleAdmin}}})

	res, err := bench.Subscribe(context.Background(), bench.SubscribeConfig{URL: ts.URL, Key: adminKey, Rate: 500, Batch: 5, Connections: 2, Duration: time.Second, Waits: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Events == 0 || res.Delivered != res.Events || res.IngestErrors != 0 {
		t.Fatalf("%d events ingested, %d delivered, %d errors: every ingested event must be delivered", res.Events, res.Delivered, res.IngestErrors)
	}
	if res.Waits == 0 || res.Delivery.Max <= 0 || res.Delivery.Max < res.Delivery.P99 || res.Ingest.P50 <= 0 {
		t.Fatalf("figures missing: %+v", res)
	}
	// The subscription is deleted at the end.
	if subs, err := store.ListSubscriptions(context.Background(), "", 10); err != nil || len(subs) != 0 {
		t.Fatalf("subscriptions left: %v (%v)", subs, err)
	}
}
