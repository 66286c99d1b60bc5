package httpapi

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Role is what a key may do.
type Role string

// The roles, from least to most.
const (
	// RoleWrite may ingest only; such a key may live in a browser.
	RoleWrite Role = "write"
	// RoleRead may read and subscribe.
	RoleRead Role = "read"
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
)

// Key is an API key.
type Key struct {
	// Name identifies the key in logs and metrics, and is the default source
	// of the events it sends. Required.
	Name string `yaml:"name"`
	// Secret is what clients send (Bearer, Basic user name, or ?key=).
	// Required, at least 16 characters.
	Secret string `yaml:"secret"`
	// Role is write, read or admin. Required.
	Role Role `yaml:"role"`
	// Origins, when set, are the browser origins allowed to use the key
	// (CORS); "*" allows any. Default: none (no browser use).
	Origins []string `yaml:"origins"`
	// Types, when set, are the event types the key may send. Default: any.
	Types []string `yaml:"types"`
	// Rate is the sustained requests per second the key may send (token
	// bucket). Default limits.rate_per_key.
	Rate float64 `yaml:"rate"`
	// Burst is the key's bucket size. Default limits.rate_burst.
	Burst int `yaml:"burst"`
}

// Limits bound what one request may carry and how fast a key may send.
type Limits struct {
	// MaxBodyBytes bounds a request body as sent. Default 10 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxDecompressedBytes bounds a gzip body once decompressed. Default
	// 10 MiB.
	MaxDecompressedBytes int64 `yaml:"max_decompressed_bytes"`
	// MaxEventBytes bounds one event. Default 1 MiB.
	MaxEventBytes int `yaml:"max_event_bytes"`
	// MaxEvents bounds the events of one request. Default 10000.
	MaxEvents int `yaml:"max_events"`
	// MaxInFlight bounds the ingest requests (POST /v1/events and stream
	// appends) being checked and committed at once; one more is answered
	// 503 overloaded as soon as its body is read (slow senders hold no
	// place), so that under overload the accepted requests do not queue
	// behind the excess (docs/decisions.md, D19, D20). Default 64.
	MaxInFlight int `yaml:"max_in_flight"`
	// BodyBudgetBytes bounds the bytes of the ingest bodies being read at
	// once: a body reserves its Content-Length (a chunked one, 64 KiB at a
	// time as it is read) until it is decoded; bodies over 64 KiB may fill
	// three quarters of it. Beyond it a body waits up to BodyWait, then is
	// answered 503 busy (docs/decisions.md, D95). Default 64 MiB.
	BodyBudgetBytes int64 `yaml:"body_budget_bytes"`
	// BodyWait bounds how long a body waits for room in the budget.
	// Default 1s.
	BodyWait time.Duration `yaml:"body_wait"`
	// RatePerKey is the sustained requests per second a key may send
	// (token bucket) unless the key sets its own rate; 0 means no limit.
	// Default 0.
	RatePerKey float64 `yaml:"rate_per_key"`
	// RateBurst is a bucket's size unless the key sets its own. Default
	// 2 × the rate, at least 1.
	RateBurst int `yaml:"rate_burst"`
	// MaxPageSize bounds limit= on reads. Default 1000.
	MaxPageSize int `yaml:"max_page_size"`
}

// Config configures the edge.
type Config struct {
	// Keys are the configuration's API keys: with the keys that sluice
	// generates on its first start, the bootstrap keys, which the API
	// lists but never revokes or changes. More keys are managed through
	// /v1/keys and kept in the store. Default: none (then the generated
	// keys are used).
	Keys []Key `yaml:"keys"`
	// WriteKeyOrigins are the browser origins allowed to use the write key
	// that sluice generates (and the one SLUICE_WRITE_KEY defines); "*"
	// allows any, [] none. Write keys are public by nature, like
	// Segment's (decision D72). Default ["*"].
	WriteKeyOrigins []string `yaml:"write_key_origins"`
	// Limits bound requests. Zero fields take their defaults.
	Limits Limits `yaml:"limits"`
	// OpenMetrics serves /metrics without a key. Default false.
	OpenMetrics bool `yaml:"open_metrics"`
	// RetryAfter is what 503 and 429 answers tell clients to wait.
	// Default 1s.
	RetryAfter time.Duration `yaml:"retry_after"`
	// LiveHeartbeat is how long the live tail (GET /v1/events/live) stays
	// silent before it sends a heartbeat comment. Default 15s.
	LiveHeartbeat time.Duration `yaml:"live_heartbeat"`
	// LiveStall is how long a live tail client may read nothing before it
	// is dropped (it resumes with Last-Event-ID), so that a stalled client
	// holds no more than a page of events. Default 10s.
	LiveStall time.Duration `yaml:"live_stall"`
	// SubscriptionReaderTTL is how long a subscription's reader keeps it
	// after its last read or acknowledgement (and its long poll): another
	// reader gets 409 subscription_busy until then. Default 30s.
	SubscriptionReaderTTL time.Duration `yaml:"subscription_reader_ttl"`
	// Schemas say what happens to events their schemas reject, and to
	// those of types without a schema.
	Schemas SchemaPolicy `yaml:"schemas"`
	// Segment configures the Segment-compatible routes (docs/segment.md).
	Segment SegmentConfig `yaml:"segment"`
	// AccessLog configures the access log. Default: off.
	AccessLog AccessLog `yaml:"access_log"`
}

// WithDefaults returns the configuration with zero fields at their
// defaults.
func (c Config) WithDefaults() Config {
	c.Keys = slices.Clone(c.Keys)
	l := &c.Limits
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 10 << 20
	}
	if l.MaxDecompressedBytes <= 0 {
		l.MaxDecompressedBytes = 10 << 20
	}
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = 1 << 20
	}
	if l.MaxEvents <= 0 {
		l.MaxEvents = 10_000
	}
	if l.MaxInFlight <= 0 {
		l.MaxInFlight = 64
	}
	if l.BodyBudgetBytes <= 0 {
		l.BodyBudgetBytes = 64 << 20
	}
	if l.BodyWait <= 0 {
		l.BodyWait = time.Second
	}
	for i := range c.Keys {
		l.keyDefaults(&c.Keys[i])
	}
	if c.WriteKeyOrigins == nil {
		c.WriteKeyOrigins = []string{"*"}
	}
	if l.MaxPageSize <= 0 {
		l.MaxPageSize = 1000
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = time.Second
	}
	if c.LiveHeartbeat <= 0 {
		c.LiveHeartbeat = 15 * time.Second
	}
	if c.LiveStall <= 0 {
		c.LiveStall = 10 * time.Second
	}
	if c.SubscriptionReaderTTL <= 0 {
		c.SubscriptionReaderTTL = 30 * time.Second
	}
	c.Segment = c.Segment.withDefaults()
	sp := &c.Schemas
	if sp.UnknownTypes == "" {
		sp.UnknownTypes = UnknownAccept
	}
	if sp.QuarantineMaxEvents <= 0 {
		sp.QuarantineMaxEvents = 100_000
	}
	if sp.QuarantineMaxAge <= 0 {
		sp.QuarantineMaxAge = 7 * 24 * time.Hour
	}
	return c
}

// valid reports whether r is one of the roles.
func (r Role) valid() bool {
	return r == RoleWrite || r == RoleRead || r == RoleAdmin
}

// originProblems checks each origin of a list at path.
func originProblems(path string, origins []string) []error {
	var errs []error
	for i, o := range origins {
		if err := checkOrigin(o); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", path, i, err))
		}
	}
	return errs
}

// keyDefaults sets the key's rate and burst when it has none.
func (l Limits) keyDefaults(k *Key) {
	if k.Rate <= 0 {
		k.Rate = l.RatePerKey
	}
	if k.Burst <= 0 {
		k.Burst = l.RateBurst
	}
	if k.Burst <= 0 {
		k.Burst = max(1, int(2*k.Rate))
	}
}

// Validate returns every problem of the configuration at once, each with
// its field's path.
func (c Config) Validate() error {
	var errs []error
	names, secrets := map[string]bool{}, map[string]bool{}
	for i, k := range c.Keys {
		at := fmt.Sprintf("keys[%d]", i)
		if k.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", at))
		} else if names[k.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", at, k.Name))
		}
		names[k.Name] = true
		if len(k.Secret) < 16 {
			errs = append(errs, fmt.Errorf("%s.secret: at least 16 characters", at))
		} else if secrets[k.Secret] {
			errs = append(errs, fmt.Errorf("%s.secret: the same secret is used twice", at))
		}
		secrets[k.Secret] = true
		if k.Rate < 0 || k.Burst < 0 {
			errs = append(errs, fmt.Errorf("%s: rate and burst must not be negative", at))
		}
		if !k.Role.valid() {
			errs = append(errs, fmt.Errorf("%s.role: %q is not write, read or admin", at, k.Role))
		}
		errs = append(errs, originProblems(at+".origins", k.Origins)...)
	}
	errs = append(errs, originProblems("write_key_origins", c.WriteKeyOrigins)...)
	l := c.Limits
	for _, f := range []struct {
		path string
		neg  bool
	}{
		{"limits.max_body_bytes", l.MaxBodyBytes < 0},
		{"limits.max_decompressed_bytes", l.MaxDecompressedBytes < 0},
		{"limits.max_event_bytes", l.MaxEventBytes < 0},
		{"limits.max_events", l.MaxEvents < 0},
		{"limits.max_in_flight", l.MaxInFlight < 0},
		{"limits.body_budget_bytes", l.BodyBudgetBytes < 0},
		{"limits.body_wait", l.BodyWait < 0},
		{"limits.rate_per_key", l.RatePerKey < 0},
		{"limits.rate_burst", l.RateBurst < 0},
		{"limits.max_page_size", l.MaxPageSize < 0},
		{"retry_after", c.RetryAfter < 0},
		{"live_heartbeat", c.LiveHeartbeat < 0},
		{"live_stall", c.LiveStall < 0},
		{"subscription_reader_ttl", c.SubscriptionReaderTTL < 0},
		{"schemas.quarantine_max_events", c.Schemas.QuarantineMaxEvents < 0},
		{"schemas.quarantine_max_age", c.Schemas.QuarantineMaxAge < 0},
	} {
		if f.neg {
			errs = append(errs, fmt.Errorf("%s: must not be negative", f.path))
		}
	}
	switch c.Schemas.UnknownTypes {
	case "", UnknownAccept, UnknownReject, UnknownQuarantine:
	default:
		errs = append(errs, fmt.Errorf("schemas.unknown_types: %q is not accept, reject or quarantine", c.Schemas.UnknownTypes))
	}
	errs = c.Segment.validate(errs)
	errs = append(errs, c.AccessLog.problems("access_log")...)
	return errors.Join(errs...)
}
