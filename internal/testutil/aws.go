package testutil

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// NoAWSEnvironment clears what aws-sdk-go-v2 reads from the environment
// (region, profile, credentials, retries) for the rest of the test, and
// points the shared configuration files at an empty directory whose
// config and credentials files the test may write (AWS_CONFIG_FILE,
// AWS_SHARED_CREDENTIALS_FILE). A test that calls it cannot run in
// parallel.
func NoAWSEnvironment(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, v := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
}

// FakeS3 starts an in-process S3 (gofakes3, in memory, no signature
// checks) holding the buckets, stopped at the test's end, and returns its
// URL, an endpoint for path-style requests.
func FakeS3(t testing.TB, buckets ...string) string {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0)).Server())
	t.Cleanup(srv.Close)
	return srv.URL
}
