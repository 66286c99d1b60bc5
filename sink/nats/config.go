package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	gonats "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

var _ sink.Destination = (*Config)(nil)

// Config is a nats sink's own fields in a sinks: entry.
type Config struct {
	// URL is the server's address (nats://host:port, tls://host:port), or
	// several separated by commas, the servers of a cluster. User and
	// password may be given in it (nats://user:pass@host:4222). Default
	// nats://127.0.0.1:4222.
	URL string `yaml:"url"`
	// Subject is the subject each record is published to: fixed text in
	// which {stream}, {type} and {category} stand for the event's (see the
	// package's documentation for how they are written). Its first token
	// is fixed. A JetStream stream must hold the subjects. Default
	// "sluice.{stream}".
	Subject string `yaml:"subject"`
	// User and Password authenticate with a user name and password.
	// Default: none.
	User     string `yaml:"user"`
	Password string `yaml:"password"`
	// Token authenticates with a token. Default: none.
	Token string `yaml:"token"`
	// CredsFile is a credentials file (a user JWT and its NKey seed, as
	// nsc and Synadia Cloud write them), read at every connection.
	// Default: none.
	CredsFile string `yaml:"creds_file"`
	// TLS configures TLS; setting any of its fields requires TLS of the
	// server (so does a tls:// URL). Default: TLS only for tls:// URLs,
	// with the system's roots.
	TLS TLS `yaml:"tls"`
	// MaxPending is the most publishes awaiting their acknowledgement at
	// once, across the sink's deliveries. Default 256.
	MaxPending int `yaml:"max_pending"`
	// Timeout bounds a delivery: records not acknowledged by then fail,
	// retryably. It also bounds each connection attempt. Default 5s.
	Timeout time.Duration `yaml:"timeout"`
}

// TLS is the TLS of the connection.
type TLS = sink.TLS

// The defaults.
const (
	defaultURL        = "nats://127.0.0.1:4222"
	defaultSubject    = "sluice.{stream}"
	defaultMaxPending = 256
	defaultTimeout    = 5 * time.Second
)

// withDefaults returns the configuration with its zero fields at their
// defaults.
func (c Config) withDefaults() Config {
	c.URL = cmp(c.URL, defaultURL)
	c.Subject = cmp(c.Subject, defaultSubject)
	c.MaxPending = cmp(c.MaxPending, defaultMaxPending)
	c.Timeout = cmp(c.Timeout, defaultTimeout)
	return c
}

func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Validate returns every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	d := c.withDefaults()
	for u := range strings.SplitSeq(d.URL, ",") {
		if err := checkURL(strings.TrimSpace(u)); err != nil {
			add("url", "%v", err)
		}
	}
	if _, err := parseSubject(d.Subject); err != nil {
		add("subject", "%q: %v", d.Subject, err)
	}
	if c.Password != "" && c.User == "" {
		add("password", "set without a user")
	}
	methods := 0
	for _, set := range []bool{c.User != "", c.Token != "", c.CredsFile != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		add("user", "user, token and creds_file are different ways to authenticate: set one")
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxPending < 0 {
		add("max_pending", "must not be negative")
	}
	if c.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	return errors.Join(errs...)
}

// checkURL checks one server's address as nats.go takes it.
func checkURL(s string) error {
	if s == "" {
		return errors.New("an empty address")
	}
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("%q: want a nats://, tls://, ws:// or wss:// address", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

// Limits: each record is a message of its own, so a batch has no bound of
// the protocol's; one message must fit the server's max_payload (1 MiB by
// default, configurable), which Deliver checks against the value the
// server announces, so MaxRecordBytes is left to it.
func (c *Config) Limits() sink.Limits {
	return sink.Limits{Default: sink.Batch{MaxEvents: 1000, MaxBytes: 8 << 20}}
}

// Open connects to the servers: a first attempt that fails (at once when
// refused, within 2s when an address does not answer) leaves connecting
// to the background, for as long as the sink runs, and deliveries fail
// meanwhile. It fails for an unreadable credentials or TLS file.
func (c *Config) Open(_ context.Context, env sink.Env) (sluice.Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := c.withDefaults()
	subj, _ := parseSubject(d.Subject)
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	opts, err := d.options(env.Name, log)
	if err != nil {
		return nil, err
	}
	nc, err := gonats.Connect(d.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", d.URL, err)
	}
	s := &Sink{nc: nc, subject: subj, timeout: d.Timeout, window: make(chan struct{}, d.MaxPending),
		pubOpts: []jetstream.PublishOpt{jetstream.WithRetryAttempts(0)}}
	s.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(d.MaxPending),
		// A backstop that frees the window of publishes whose
		// acknowledgement never comes: Deliver stops waiting at Timeout.
		jetstream.WithPublishAsyncTimeout(2*d.Timeout),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *gonats.Msg, _ *jetstream.PubAck) { s.release(m) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *gonats.Msg, _ error) { s.release(m) }))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: %w", err)
	}
	return s, nil
}

// options are the connection's: reconnect for ever, buffer nothing while
// disconnected (a delivery then fails at once, and the runner retries).
func (c Config) options(name string, log *slog.Logger) ([]gonats.Option, error) {
	opts := []gonats.Option{
		gonats.Name("sluice sink " + name),
		gonats.RetryOnFailedConnect(true),
		gonats.MaxReconnects(-1),
		gonats.ReconnectBufSize(-1),
		gonats.Timeout(min(c.Timeout, 2*time.Second)),
		gonats.ConnectHandler(func(nc *gonats.Conn) {
			log.Info("nats: connected", "url", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload())
		}),
		gonats.ReconnectHandler(func(nc *gonats.Conn) {
			log.Info("nats: reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		gonats.DisconnectErrHandler(func(_ *gonats.Conn, err error) {
			if err != nil { // nil: closed
				log.Warn("nats: disconnected", "err", err)
			}
		}),
		gonats.ErrorHandler(func(_ *gonats.Conn, _ *gonats.Subscription, err error) {
			log.Warn("nats: asynchronous error", "err", err) // a permissions violation, for one
		}),
	}
	switch {
	case c.User != "":
		opts = append(opts, gonats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, gonats.Token(c.Token))
	case c.CredsFile != "":
		opts = append(opts, gonats.UserCredentials(c.CredsFile))
	}
	if c.TLS != (TLS{}) {
		cfg, err := c.TLS.Config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, gonats.Secure(cfg))
	}
	return opts, nil
}
