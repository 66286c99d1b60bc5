package s3_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/transfer"
	"github.com/sluicehq/sluice/transfer/s3"
)

// TestRoundTrip exports a log to an object of an in-process S3
// (gofakes3), plain and gzip, and imports it into an empty store.
func TestRoundTrip(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("exports"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0)).Server())
	t.Cleanup(srv.Close)
	o := s3.Options{PathStyle: true, AWS: awsconf.Config{Region: "us-east-1", Endpoint: srv.URL, AccessKeyID: "test", SecretAccessKey: "test"}}
	ctx := context.Background()
	from := backends.SQLite(t)
	const n = 5000
	events := make([]sluice.Event, n)
	for i := range events {
		events[i] = sluice.Event{Type: "t", Stream: "s-1", Data: []byte(`{"i": [1, "é"]}`), Metadata: []byte(`{"m":1}`)}
	}
	if _, err := from.Append(ctx, []sluice.AppendRequest{{Events: events}}); err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{"s3://exports/a/events.ndjson", "s3://exports/a/events.ndjson.gz"} {
		t.Run(url, func(t *testing.T) {
			w, err := s3.Create(ctx, url, bytes.HasSuffix([]byte(url), []byte(".gz")), o)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := transfer.Copy(ctx, &transfer.LogSource{Log: from, Name: "store"}, w, transfer.Options{}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			src, err := s3.Open(ctx, url, false, o)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			to := backends.SQLite(t)
			sum, err := transfer.Copy(ctx, src, &transfer.StoreTarget{Log: to}, transfer.Options{})
			if err != nil || sum.Stored != n {
				t.Fatalf("import: %+v, %v", sum.Counts, err)
			}
			a, _ := from.ReadLog(ctx, 0, sluice.Filter{}, n)
			b, _ := to.ReadLog(ctx, 0, sluice.Filter{}, n)
			for i := range a {
				if a[i].ID != b[i].ID || !bytes.Equal(a[i].Data, b[i].Data) || !bytes.Equal(a[i].Metadata, b[i].Metadata) || a[i].Position != b[i].Position {
					t.Fatalf("event %d: %s, then %s", i, a[i].AppendJSON(nil), b[i].AppendJSON(nil))
				}
			}
		})
	}
	if _, err := s3.Open(ctx, "s3://exports/missing", false, o); err == nil {
		t.Fatal("a missing object opened")
	}
	if _, _, err := s3.ParseURL("s3://bucket"); err == nil {
		t.Fatal("s3://bucket parsed")
	}
}
