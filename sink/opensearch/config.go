package opensearch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

// Config is an opensearch sink's own fields in a sinks: entry.
type Config struct {
	// URL is the cluster's address, http:// or https://, with a path
	// prefix when a proxy puts it behind one: each batch is POSTed to
	// URL/_bulk. Required.
	URL string `yaml:"url"`
	// Index is the name of the index each document goes to: fixed text
	// with %Y, %m, %d and %H for the year, month, day and hour at which
	// the event was recorded (in UTC), and %% for a %. Default
	// "events-%Y.%m.%d".
	Index string `yaml:"index"`
	// Username and Password authenticate with HTTP Basic (the security
	// plugin's internal users, LDAP). Default: none.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// APIKey is sent as "Authorization: ApiKey <api_key>" (Elasticsearch's
	// API keys: the base64 of id:key). Default: none.
	APIKey string `yaml:"api_key"`
	// TLS configures TLS for https:// URLs. Default: the system's roots.
	TLS sink.TLS `yaml:"tls"`
	// Timeout bounds one _bulk request, from connecting to the end of the
	// answer. Default 30s.
	Timeout time.Duration `yaml:"timeout"`
}

// The defaults, and what a batch may be.
const (
	DefaultIndex   = "events-%Y.%m.%d"
	defaultTimeout = 30 * time.Second
	// defaultEvents and defaultBytes are a batch's by default: requests
	// of a few MiB, under the 10 MiB that Amazon OpenSearch Service takes
	// on its smaller instance types.
	defaultEvents = 1000
	defaultBytes  = 5 << 20
	// maxEvents and maxBytes bound what a configuration may set: with
	// their action lines (at most about 420 bytes a document) such
	// requests stay below http.max_content_length's default, 100mb.
	maxEvents = 10_000
	maxBytes  = 64 << 20
)

// bulkPath is where a batch goes below the URL. filter_path cuts the
// answer to each item's status and error (about 25 bytes an item instead
// of 200, in the order of the request): less to send and to parse.
const bulkPath = "/_bulk?filter_path=items.*.status,items.*.error"

var _ sink.Destination = (*Config)(nil)

// withDefaults returns the configuration with its zero fields at their
// defaults.
func (c Config) withDefaults() Config {
	if c.Index == "" {
		c.Index = DefaultIndex
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	return c
}

// Validate returns every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	d := c.withDefaults()
	if c.URL == "" {
		add("url", "required")
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("url", "%q is not an http:// or https:// URL", c.URL)
	} else if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		add("url", "%q: no query, fragment or user in it (username and password are fields of their own)", c.URL)
	}
	if _, err := parseIndexPattern(d.Index); err != nil {
		add("index", "%q %v", d.Index, err)
	}
	if c.Password != "" && c.Username == "" {
		add("password", "set without a username")
	}
	if c.APIKey != "" && c.Username != "" {
		add("api_key", "not with username: authenticate with one or the other")
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

// Limits: 1,000 documents and 5 MiB of sources a request by default, at
// most 10,000 and 64 MiB; a batch is sent as soon as it is there (linger
// 0), and batches grow with the load while a request is in flight.
func (c *Config) Limits() sink.Limits {
	return sink.Limits{
		Default:        sink.Batch{MaxEvents: defaultEvents, MaxBytes: defaultBytes},
		MaxEvents:      maxEvents,
		MaxBytes:       maxBytes,
		MaxRecordBytes: maxBytes,
	}
}

// Open returns the sink; it reads the TLS files and contacts nobody.
func (c *Config) Open(_ context.Context, env sink.Env) (sluice.Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := c.withDefaults()
	index, _ := parseIndexPattern(d.Index) // validated
	tlsConfig, err := d.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("opensearch sink %q: %w", env.Name, err)
	}
	s := &Sink{
		url:     strings.TrimSuffix(d.URL, "/") + bulkPath,
		index:   index,
		timeout: d.Timeout,
		header:  http.Header{"Content-Type": {"application/x-ndjson"}},
	}
	switch {
	case d.Username != "":
		s.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(d.Username+":"+d.Password)))
	case d.APIKey != "":
		s.header.Set("Authorization", "ApiKey "+d.APIKey)
	}
	s.client = sink.HTTPClient(d.Timeout, tlsConfig)
	return s, nil
}
