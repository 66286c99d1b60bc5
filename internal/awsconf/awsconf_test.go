package awsconf

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/testutil"
)

func TestConfig_Problems(t *testing.T) {
	if errs := (&Config{Region: "eu-west-1", Endpoint: "https://h:1", AccessKeyID: "a", SecretAccessKey: "b"}).Problems(); errs != nil {
		t.Errorf("a good configuration: %v", errs)
	}
	errs := (&Config{Region: "Europe", Endpoint: "h:1", AccessKeyID: "a", Profile: "p"}).Problems()
	want := []string{
		`region: "Europe" is not a region name (eu-west-1)`,
		`endpoint: "h:1" is not an http:// or https:// URL`,
		"access_key_id, secret_access_key: set both or neither",
		"profile: not with access_key_id: credentials come from one or the other",
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConfig_Load changes the environment: it does not run in parallel.
func TestConfig_Load(t *testing.T) {
	testutil.NoAWSEnvironment(t)
	ctx := context.Background()
	region := func(c Config, fallback string) string {
		t.Helper()
		cfg, _, err := c.Load(ctx, fallback)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Region
	}
	if got := region(Config{}, ""); got != DefaultRegion {
		t.Errorf("no region anywhere: %s, want %s", got, DefaultRegion)
	}
	t.Setenv("AWS_REGION", "ap-south-1")
	if got := region(Config{}, ""); got != "ap-south-1" {
		t.Errorf("AWS_REGION=ap-south-1: %s", got)
	}
	if got := region(Config{}, "eu-west-1"); got != "eu-west-1" {
		t.Errorf("the caller's region before the environment's: %s", got)
	}
	if got := region(Config{Region: "eu-central-1"}, "eu-west-1"); got != "eu-central-1" {
		t.Errorf("region: eu-central-1 before the caller's: %s", got)
	}

	cfg, transport, err := (&Config{AccessKeyID: "a", SecretAccessKey: "b"}).Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if creds, err := cfg.Credentials.Retrieve(ctx); err != nil || creds.AccessKeyID != "a" || creds.SecretAccessKey != "b" {
		t.Errorf("static credentials: %+v, %v", creds, err)
	}
	if c, ok := cfg.HTTPClient.(*http.Client); !ok || c.Transport != transport {
		t.Errorf("the HTTP client %#v does not use the transport returned", cfg.HTTPClient)
	}
	if _, _, err := (&Config{Profile: "missing"}).Load(ctx, ""); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing profile: %v", err)
	}
}
