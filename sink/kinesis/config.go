package kinesis

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/sink"
)

// What one PutRecords request takes: 500 records and 5 MiB, and 1 MiB per
// record, partition keys included (a stream's default record size).
const (
	maxRequestRecords = 500
	maxRequestBytes   = 5 << 20
	maxRecordBytes    = 1 << 20
)

// The defaults of Config's fields.
const (
	// DefaultRegion is the region when neither the configuration, the
	// stream's ARN nor the environment names one.
	DefaultRegion = awsconf.DefaultRegion
	// DefaultTimeout bounds one PutRecords request.
	DefaultTimeout = 30 * time.Second
)

var streamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// Config is a kinesis sink's part of a sinks: entry.
type Config struct {
	// Stream is the name of the Kinesis data stream. Required unless
	// StreamARN is set.
	Stream string `yaml:"stream"`
	// StreamARN is the stream's ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME),
	// instead of or beside Stream (then both must name the same stream);
	// its region is the region unless Region says otherwise. Default: none.
	StreamARN string `yaml:"stream_arn"`
	// AWS holds region (the stream's; default: the stream ARN's region,
	// else the environment's), endpoint (a Kinesis-compatible one:
	// kinesalite, a local stack, a VPC endpoint: http://127.0.0.1:4567),
	// profile, and access_key_id with secret_access_key; see
	// awsconf.Config for their defaults.
	AWS awsconf.Config `yaml:",inline"`
	// PartitionKey is the event field that each record's partition key is
	// taken from (id, type, stream, category, source, data.<path>,
	// metadata.<path>); records of one key go to one shard, in order.
	// Default: stream.
	PartitionKey string `yaml:"partition_key"`
	// Timeout bounds one PutRecords request, from connecting to reading
	// the answer. Default: 30s.
	Timeout time.Duration `yaml:"timeout"`
}

var _ sink.Destination = (*Config)(nil)

// Validate returns every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Stream == "" && c.StreamARN == "" {
		bad("stream: required (or stream_arn)")
	}
	if c.Stream != "" && !streamName.MatchString(c.Stream) {
		bad("stream: %q is not a stream name (1-128 of a-z, A-Z, 0-9, _, ., -)", c.Stream)
	}
	if c.StreamARN != "" {
		region, name, err := parseStreamARN(c.StreamARN)
		switch {
		case err != nil:
			bad("stream_arn: %v", err)
		case c.Stream != "" && name != c.Stream:
			bad("stream_arn: names stream %q, and stream says %q", name, c.Stream)
		case c.AWS.Region != "" && region != c.AWS.Region:
			bad("stream_arn: the stream is in %s, and region says %s", region, c.AWS.Region)
		}
	}
	errs = append(errs, c.AWS.Problems()...)
	if _, err := sink.ParseField(c.PartitionKey); err != nil {
		bad("partition_key: %v", err)
	}
	if c.Timeout < 0 {
		bad("timeout: %s is negative", c.Timeout)
	}
	return errors.Join(errs...)
}

// parseStreamARN returns the region and the stream name of a Kinesis
// stream's ARN.
func parseStreamARN(s string) (region, name string, err error) {
	a, err := arn.Parse(s)
	if err != nil {
		return "", "", fmt.Errorf("%q: %w", s, err)
	}
	name, ok := strings.CutPrefix(a.Resource, "stream/")
	if a.Service != "kinesis" || !ok || !streamName.MatchString(name) || a.Region == "" {
		return "", "", fmt.Errorf("%q is not a Kinesis stream's ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)", s)
	}
	return a.Region, name, nil
}

// Limits are PutRecords': 500 records and 5 MiB a request, 1 MiB a
// record. A batch is sent as soon as it is there (linger 0): Kinesis bills
// records and payload, not requests, and batches grow with the load while
// the previous request is in flight.
func (c *Config) Limits() sink.Limits {
	return sink.Limits{
		Default:        sink.Batch{MaxEvents: maxRequestRecords, MaxBytes: maxRequestBytes},
		MaxEvents:      maxRequestRecords,
		MaxBytes:       maxRequestBytes,
		MaxRecordBytes: maxRecordBytes,
	}
}

// Open returns the sink. It reads the environment and the shared
// configuration files for credentials and region, and sends nothing.
func (c *Config) Open(ctx context.Context, env sink.Env) (sluice.Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	key, _ := sink.ParseField(c.PartitionKey)
	var arnRegion string
	if c.StreamARN != "" {
		arnRegion, _, _ = parseStreamARN(c.StreamARN)
	}
	cfg, transport, err := c.AWS.Load(ctx, arnRegion)
	if err != nil {
		return nil, fmt.Errorf("kinesis sink %q: %w", env.Name, err)
	}
	client := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) {
		// One attempt per Deliver: the runner retries, with its backoff,
		// budget and circuit breaker.
		o.Retryer = aws.NopRetryer{}
		o.RetryMaxAttempts = 0
		if c.AWS.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.AWS.Endpoint)
		}
	})
	s := &Sink{client: client, transport: transport, key: key, timeout: c.Timeout}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if c.Stream != "" {
		s.stream = aws.String(c.Stream)
	}
	if c.StreamARN != "" {
		s.streamARN = aws.String(c.StreamARN)
	}
	return s, nil
}
