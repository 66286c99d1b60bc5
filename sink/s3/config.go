package s3

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/sink"
)

// What S3 takes: parts of 5 MiB at least (but the last) and 5 GiB at
// most, 10,000 parts an upload.
const (
	minPartBytes = 5 << 20
	maxPartBytes = 5 << 30
	maxParts     = 10000
)

// The defaults of Config's fields and of the sink's batches, which are its
// objects.
const (
	// DefaultRegion is the region when neither the configuration nor the
	// environment names one.
	DefaultRegion = awsconf.DefaultRegion
	// DefaultPartBytes is the size of a multipart upload's parts
	// (compressed): an object that compresses to less goes in one PUT.
	DefaultPartBytes = 8 << 20
	// DefaultTimeout bounds one request (a PUT, a part).
	DefaultTimeout = 2 * time.Minute
	// DefaultObjectBytes closes an object by size: its records' bodies,
	// uncompressed (batch.max_bytes).
	DefaultObjectBytes = 64 << 20
	// DefaultObjectAge closes an object by age: how long after its first
	// record was read (batch.linger).
	DefaultObjectAge = 5 * time.Minute
	// defaultObjectEvents bounds an object's records (batch.max_events)
	// only so that size and age close it.
	defaultObjectEvents = 1 << 24
)

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Config is an s3 sink's part of a sinks: entry.
type Config struct {
	// Bucket is the bucket the objects go into. Required.
	Bucket string `yaml:"bucket"`
	// Prefix is put before every object's name, a folder of the bucket
	// (archive/events); leading and trailing slashes are ignored.
	// Default: "" (the bucket's root).
	Prefix string `yaml:"prefix"`
	// AWS holds region (the bucket's), endpoint (an S3-compatible
	// service's: MinIO, Ceph, R2, a VPC endpoint: http://127.0.0.1:9000),
	// profile, and access_key_id with secret_access_key; see
	// awsconf.Config for their defaults.
	AWS awsconf.Config `yaml:",inline"`
	// PathStyle addresses the bucket in the path (endpoint/bucket/key)
	// instead of the host name (bucket.endpoint/key), as most
	// S3-compatible services want. Default false.
	PathStyle bool `yaml:"path_style"`
	// PartSize is the size of a multipart upload's parts, compressed,
	// 5 MiB to 5 GiB: what the sink holds of an object in memory beside
	// its records. An object that compresses to less is one PUT.
	// Default 8388608 (8 MiB).
	PartSize int `yaml:"part_size"`
	// Timeout bounds one request: a PUT, or one part of an upload.
	// Default 2m.
	Timeout time.Duration `yaml:"timeout"`
}

var _ sink.Destination = (*Config)(nil)

// Validate returns every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case c.Bucket == "":
		bad("bucket: required")
	case !bucketName.MatchString(c.Bucket) || strings.Contains(c.Bucket, ".."):
		bad("bucket: %q is not a bucket name (3-63 of a-z, 0-9, . and -, starting and ending with a letter or digit)", c.Bucket)
	}
	if strings.Contains(c.Prefix, "//") {
		bad("prefix: %q has an empty folder (//)", c.Prefix)
	}
	errs = append(errs, c.AWS.Problems()...)
	if c.PartSize != 0 && (c.PartSize < minPartBytes || c.PartSize > maxPartBytes) {
		bad("part_size: %d is not within S3's 5242880 (5 MiB) and 5368709120 (5 GiB)", c.PartSize)
	}
	if c.Timeout < 0 {
		bad("timeout: %s is negative", c.Timeout)
	}
	return errors.Join(errs...)
}

// partSize is the configured part size or its default.
func (c *Config) partSize() int {
	if c.PartSize > 0 {
		return c.PartSize
	}
	return DefaultPartBytes
}

// Limits make a batch an object: 64 MiB of records, or what has come in
// 5 minutes. An object may be as large as 9,000 parts (a bound under
// S3's 10,000 with room for gzip's worst case).
func (c *Config) Limits() sink.Limits {
	return sink.Limits{
		Default:  sink.Batch{MaxEvents: defaultObjectEvents, MaxBytes: DefaultObjectBytes, Linger: DefaultObjectAge},
		MaxBytes: min(9*maxParts/10*c.partSize(), 1<<50),
	}
}

// Open returns the sink. It reads the environment and the shared
// configuration files for credentials and region, and sends nothing.
func (c *Config) Open(ctx context.Context, env sink.Env) (sluice.Sink, error) {
	client, transport, err := c.client(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("s3 sink %q: %w", env.Name, err)
	}
	s := &Sink{client: client, transport: transport, bucket: c.Bucket, prefix: cleanPrefix(c.Prefix),
		node: nodeName(env.Node), partSize: c.partSize(), timeout: c.Timeout}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.log = env.Logger; s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// client returns an S3 client for the configuration, and its transport;
// retries says whether the SDK retries (the sink's does not: the runner
// does).
func (c *Config) client(ctx context.Context, retries bool) (*awss3.Client, *http.Transport, error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	cfg, transport, err := c.AWS.Load(ctx, "")
	if err != nil {
		return nil, nil, err
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		if !retries {
			// One attempt per request: the runner retries, with its
			// backoff, budget and circuit breaker.
			o.Retryer = aws.NopRetryer{}
			o.RetryMaxAttempts = 0
		}
		o.UsePathStyle = c.PathStyle
		// Objects written by multipart uploads have no checksum of the
		// whole to check: gzip's CRC is what Verify checks.
		o.DisableLogOutputChecksumValidationSkipped = true
		if c.AWS.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.AWS.Endpoint)
		}
	})
	return client, transport, nil
}
