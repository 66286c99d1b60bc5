package opensearch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/sink"
	"github.com/sluicehq/sluice/sinktest"
)

func TestConfig_Validate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		c    Config
		want []string // every problem, in order; none: valid
	}{
		{"URL", Config{URL: "http://127.0.0.1:9200"}, nil},
		{"Everything", Config{URL: "https://search.example.com/opensearch/", Index: "orders-%Y.%m", Username: "u", Password: "p",
			TLS: sink.TLS{CAFile: "ca.pem", CertFile: "c", KeyFile: "k"}, Timeout: time.Second}, nil},
		{"APIKey", Config{URL: "https://search.example.com", APIKey: "a2V5"}, nil},
		{"NoURL", Config{}, []string{"url: required"}},
		{"EveryProblemAtOnce", Config{URL: "search.example.com:9200", Index: "Events-%Y", Password: "p", TLS: sink.TLS{KeyFile: "k"}, Timeout: -time.Second}, []string{
			`url: "search.example.com:9200" is not an http:// or https:// URL`,
			`index: "Events-%Y" has upper case letters: index names are lowercase`,
			"password: set without a username",
			"tls: cert_file and key_file go together",
			"timeout: must not be negative",
		}},
		{"URLWithCredentials", Config{URL: "https://admin:pw@search.example.com"}, []string{
			`url: "https://admin:pw@search.example.com": no query, fragment or user in it (username and password are fields of their own)`,
		}},
		{"TwoWaysToAuthenticate", Config{URL: "http://h", Username: "u", APIKey: "k"}, []string{
			"api_key: not with username: authenticate with one or the other",
		}},
		{"BadVerb", Config{URL: "http://h", Index: "e-%Y.%b"}, []string{`index: "e-%Y.%b" %b: want %Y, %m, %d, %H or %%`}},
	} {
		t.Run(tt.name, func(t *testing.T) { sinktest.CheckProblems(t, tt.c.Validate(), tt.want) })
	}
}

func TestConfig_Limits(t *testing.T) {
	t.Parallel()
	want := sink.Limits{
		Default:   sink.Batch{MaxEvents: 1000, MaxBytes: 5 << 20},
		MaxEvents: 10_000, MaxBytes: 64 << 20, MaxRecordBytes: 64 << 20,
	}
	if got := (&Config{URL: "http://h"}).Limits(); got != want {
		t.Errorf("Limits: %+v, want %+v", got, want)
	}
	// The largest requests stay under http.max_content_length's default.
	if n := maxBytes + maxEvents*(maxActionBytes+128); n >= 100<<20 {
		t.Errorf("a request may take %d bytes, past 100 MiB", n)
	}
}

func TestConfig_Open(t *testing.T) {
	t.Parallel()
	s := open(t, &Config{URL: "http://127.0.0.1:9200/prefix/"})
	if s.url != "http://127.0.0.1:9200/prefix/_bulk?filter_path=items.*.status,items.*.error" || s.timeout != defaultTimeout {
		t.Errorf("url %s, timeout %s", s.url, s.timeout)
	}
	if _, err := (&Config{}).Open(context.Background(), sink.Env{Name: "x"}); err == nil || !strings.Contains(err.Error(), "url: required") {
		t.Errorf("an invalid configuration: %v", err)
	}
	_, err := (&Config{URL: "https://h", TLS: sink.TLS{CAFile: "/nonexistent/ca.pem"}}).Open(context.Background(), sink.Env{Name: "x"})
	if err == nil || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Errorf("a missing CA file: %v", err)
	}
}
