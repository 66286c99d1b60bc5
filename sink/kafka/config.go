package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

var _ sink.Destination = (*Config)(nil)

// Config is a kafka sink's own fields in a sinks: entry.
type Config struct {
	// Brokers are the seed brokers, host:port each; the client learns the
	// rest of the cluster from them. Required.
	Brokers []string `yaml:"brokers"`
	// Topic is the topic every record is produced to. It must exist: the
	// sink does not create topics. Required.
	Topic string `yaml:"topic"`
	// Key is the event field each record's key is taken from (id, type,
	// stream, category, source, data.<path>, metadata.<path>); records of
	// one key go to one partition, in order. Default: stream.
	Key string `yaml:"key"`
	// ClientID names the client to the brokers (their logs, quotas).
	// Default "sluice".
	ClientID string `yaml:"client_id"`
	// Compression is the codec of record batches: none, gzip, snappy, lz4
	// or zstd (a batch that does not shrink goes uncompressed). Every
	// consumer of the topic must decode it. Default snappy.
	Compression string `yaml:"compression"`
	// MaxMessageBytes bounds one record batch before compression, as the
	// topic's max.message.bytes bounds it on the broker; a record larger
	// than this with its key and headers can never be produced and goes to
	// the dead letters. Default 1000012 (franz-go's, under Kafka's default
	// of 1048588).
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// RecordRetries is how many times franz-go itself produces a failed
	// record again, within Timeout, before Deliver reports it failed to
	// the runner (which retries with its backoff, budget and breaker).
	// Default 0: the runner does every retry.
	RecordRetries int `yaml:"record_retries"`
	// Timeout bounds a delivery: records without an answer by then fail,
	// retryably. It is also the produce request's timeout on the broker.
	// At least 1s. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures TLS to the brokers. Default: plaintext.
	TLS TLS `yaml:"tls"`
	// SASL configures authentication. Default: none.
	SASL SASL `yaml:"sasl"`
}

// TLS is the TLS of the connections to the brokers.
type TLS struct {
	// Enabled turns TLS on with the system's roots; setting any other
	// field of tls turns it on too. Default false.
	Enabled bool `yaml:"enabled"`
	// The certificate files (ca_file, cert_file, key_file) and
	// insecure_skip_verify. Default: the system's roots, no client
	// certificate.
	sink.TLS `yaml:",inline"`
	// ServerName is the name the brokers' certificates must hold.
	// Default: each broker's host name.
	ServerName string `yaml:"server_name"`
}

func (t TLS) on() bool { return t != TLS{} }

// SASL is the authentication to the brokers.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Default: none
	// (no authentication). PLAIN sends the password as it is: use it
	// with TLS.
	Mechanism string `yaml:"mechanism"`
	// Username and Password are the credentials; both are required with
	// a mechanism. Default: none.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// The defaults.
const (
	defaultClientID        = "sluice"
	defaultCompression     = "snappy"
	defaultMaxMessageBytes = 1_000_012
	defaultTimeout         = 10 * time.Second
)

// What franz-go takes as a batch's bound.
const minMessageBytes, maxMessageBytes = 512, 1 << 30

var (
	// topicName is what Kafka takes as a topic's name.
	topicName    = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	compressions = map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	mechanisms = map[string]func(user, pass string) sasl.Mechanism{
		"PLAIN":         func(u, p string) sasl.Mechanism { return plain.Auth{User: u, Pass: p}.AsMechanism() },
		"SCRAM-SHA-256": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha256Mechanism() },
		"SCRAM-SHA-512": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha512Mechanism() },
	}
)

// withDefaults returns the configuration with its zero fields at their
// defaults.
func (c Config) withDefaults() Config {
	c.ClientID = cmp.Or(c.ClientID, defaultClientID)
	c.Compression = cmp.Or(c.Compression, defaultCompression)
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, defaultMaxMessageBytes)
	c.Timeout = cmp.Or(c.Timeout, defaultTimeout)
	return c
}

// Validate returns every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if len(c.Brokers) == 0 {
		add("brokers", "required: at least one host:port")
	}
	for _, b := range c.Brokers {
		if err := checkBroker(b); err != nil {
			add("brokers", "%v", err)
		}
	}
	switch {
	case c.Topic == "":
		add("topic", "required")
	case c.Topic == "." || c.Topic == ".." || !topicName.MatchString(c.Topic):
		add("topic", "%q is not a topic name (1-249 of a-z, A-Z, 0-9, ., _, -; not . or ..)", c.Topic)
	}
	if _, err := sink.ParseField(c.Key); err != nil {
		add("key", "%v", err)
	}
	d := c.withDefaults()
	if _, ok := compressions[d.Compression]; !ok {
		add("compression", "%q: want none, gzip, snappy, lz4 or zstd", c.Compression)
	}
	if d.MaxMessageBytes < minMessageBytes || d.MaxMessageBytes > maxMessageBytes {
		add("max_message_bytes", "%d: want %d to %d", c.MaxMessageBytes, minMessageBytes, maxMessageBytes)
	}
	if c.RecordRetries < 0 {
		add("record_retries", "must not be negative")
	}
	if c.Timeout < 0 || c.Timeout > 0 && c.Timeout < time.Second {
		add("timeout", "%s: want at least 1s", c.Timeout)
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	s := c.SASL
	if _, ok := mechanisms[s.Mechanism]; s.Mechanism != "" && !ok {
		add("sasl.mechanism", "%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
	}
	switch {
	case s.Mechanism != "" && (s.Username == "" || s.Password == ""):
		add("sasl", "username and password are required with a mechanism")
	case s.Mechanism == "" && (s.Username != "" || s.Password != ""):
		add("sasl.mechanism", "required with a username or password")
	}
	return errors.Join(errs...)
}

// checkBroker checks one seed broker's address.
func checkBroker(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: the port is not 1-65535", s)
	}
	return nil
}

// Limits: a batch has no bound of the protocol's (franz-go splits it in
// record batches of MaxMessageBytes, per partition); a record's body may
// not be larger than one record batch.
func (c *Config) Limits() sink.Limits {
	return sink.Limits{
		Default:        sink.Batch{MaxEvents: 1000, MaxBytes: 8 << 20},
		MaxRecordBytes: c.withDefaults().MaxMessageBytes,
	}
}

// Open returns the sink: a franz-go client that connects when it first
// produces (a broker that is down fails deliveries, which the runner
// retries). It fails for an unreadable TLS file.
func (c *Config) Open(_ context.Context, env sink.Env) (sluice.Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := c.withDefaults()
	key, _ := sink.ParseField(d.Key)
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(d.Brokers...),
		kgo.ClientID(d.ClientID),
		kgo.DefaultProduceTopic(d.Topic),
		kgo.WithLogger(logger{log}),
		// Idempotent (franz-go's default), acks from every in-sync
		// replica; a record is answered within the timeout whatever
		// happens, even when in flight (at the price of a duplicate when
		// the runner sends it again): only the runner retries for long.
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.AllowIdempotentProduceCancellation(),
		kgo.RecordRetries(d.RecordRetries),
		kgo.RecordDeliveryTimeout(d.Timeout),
		kgo.ProduceRequestTimeout(d.Timeout),
		kgo.ProducerBatchMaxBytes(int32(d.MaxMessageBytes)),
		kgo.ProducerBatchCompression(compressions[d.Compression]),
		// A batch goes at once: Deliver waits for it, and batches grow
		// with the load while earlier requests are in flight.
		kgo.ProducerLinger(0),
	}
	if d.TLS.on() {
		cfg, err := d.TLS.Config()
		if err != nil {
			return nil, err
		}
		cfg.ServerName = d.TLS.ServerName
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if d.SASL.Mechanism != "" {
		opts = append(opts, kgo.SASL(mechanisms[d.SASL.Mechanism](d.SASL.Username, d.SASL.Password)))
	}
	if d.SASL.Mechanism == "PLAIN" && !d.TLS.on() {
		log.Warn("kafka: SASL PLAIN without TLS sends the password in the clear", "brokers", d.Brokers)
	}
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka sink %q: %w", env.Name, err)
	}
	return &Sink{client: client, topic: d.Topic, key: key, timeout: d.Timeout}, nil
}

// logger hands franz-go's warnings and errors to the sink's logger; its
// informational and debug messages (every request) are left out.
type logger struct{ log *slog.Logger }

func (l logger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (l logger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelWarn
	if level == kgo.LogLevelError {
		lvl = slog.LevelError
	}
	l.log.Log(context.Background(), lvl, "kafka: "+msg, keyvals...)
}
