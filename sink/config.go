package sink

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// Config is what every sink's configuration has, whatever its type: the
// common fields of a sinks: entry. A field left at its zero value takes
// its default (WithDefaults).
type Config struct {
	// Name names the sink in the API, the metrics and its checkpoint.
	// Required: 1–128 of A-Z a-z 0-9 . _ : -.
	Name string `yaml:"name"`
	// Type is the destination's type (webhook, kinesis, nats, file, …).
	// Required.
	Type string `yaml:"type"`
	// Filter selects the events the sink delivers; the others count as
	// delivered. Default: every event.
	Filter Filter `yaml:"filter"`
	// Transform, when set, is a jq expression that reshapes each event
	// (its input is the stored event as GET /v1/events returns it) or
	// drops it by giving no value. Default "" (the event as stored).
	Transform string `yaml:"transform"`
	// Start is where a new sink begins: beginning (the whole log), end
	// (events committed after it was first started) or a position (the
	// events after it). Default "beginning".
	Start string `yaml:"start"`
	// Batch bounds each delivery. Default: the destination's.
	Batch Batch `yaml:"batch"`
	// Retry is the budget of a record that fails.
	Retry Retry `yaml:"retry"`
	// Breaker is the circuit breaker in front of the destination.
	Breaker Breaker `yaml:"breaker"`
	// Archive marks the sink as an archive (the S3 sink, typically):
	// retention removes no event before the sink has delivered it.
	// Default false.
	Archive bool `yaml:"archive"`
	// LeaseTTL is how long the sink stays stopped when the process that
	// runs it dies, before another process sharing the store takes it
	// over (its lease expires). Default 15s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// Filter is sluice.Filter as the configuration spells it.
type Filter struct {
	// Types, when set, keeps events of these types.
	Types []string `yaml:"types"`
	// StreamPrefix, when set, keeps events whose stream starts with it.
	StreamPrefix string `yaml:"stream_prefix"`
	// Category, when set, keeps events of streams of this category.
	Category string `yaml:"category"`
}

// Log is the filter as the log takes it.
func (f Filter) Log() sluice.Filter {
	return sluice.Filter{Types: f.Types, StreamPrefix: f.StreamPrefix, Category: f.Category}
}

// Retry is the budget of a record that fails retryably: it goes to the
// dead letters only once both its attempts and its time are spent.
type Retry struct {
	// MaxAttempts is how many deliveries a record gets. Default 10.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxAge is how long after its first attempt a record is still tried.
	// Default 1h.
	MaxAge time.Duration `yaml:"max_age"`
	// InitialBackoff is the most the first retry waits; each later one
	// may wait twice as long (full jitter: a random wait up to the bound).
	// Default 100ms.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	// MaxBackoff bounds the waits. Default 1m.
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

// Breaker configures the circuit breaker: after Failures deliveries in a
// row have failed as a whole, the sink sends nothing for OpenFor, then one
// probe; a success closes it, a failure opens it again.
type Breaker struct {
	// Failures is how many failed deliveries in a row open the breaker.
	// Default 5.
	Failures int `yaml:"failures"`
	// OpenFor is how long the breaker stays open before a probe.
	// Default 30s.
	OpenFor time.Duration `yaml:"open_for"`
}

// The defaults of the common fields.
const (
	defaultMaxAttempts    = 10
	defaultMaxAge         = time.Hour
	defaultInitialBackoff = 100 * time.Millisecond
	defaultMaxBackoff     = time.Minute
	defaultFailures       = 5
	defaultOpenFor        = 30 * time.Second
	defaultLeaseTTL       = 15 * time.Second
)

// WithDefaults returns the configuration with its zero fields at their
// defaults, the batch's from the destination's limits.
func (c Config) WithDefaults(l Limits) Config {
	if c.Start == "" {
		c.Start = "beginning"
	}
	c.Batch.MaxEvents = cmpOr(c.Batch.MaxEvents, l.Default.MaxEvents, 500)
	c.Batch.MaxBytes = cmpOr(c.Batch.MaxBytes, l.Default.MaxBytes, 1<<20)
	if c.Batch.Linger == 0 {
		c.Batch.Linger = l.Default.Linger
	}
	c.Retry.MaxAttempts = cmpOr(c.Retry.MaxAttempts, defaultMaxAttempts)
	c.Retry.MaxAge = cmpOr(c.Retry.MaxAge, defaultMaxAge)
	c.Retry.InitialBackoff = cmpOr(c.Retry.InitialBackoff, defaultInitialBackoff)
	c.Retry.MaxBackoff = cmpOr(c.Retry.MaxBackoff, defaultMaxBackoff)
	c.Breaker.Failures = cmpOr(c.Breaker.Failures, defaultFailures)
	c.Breaker.OpenFor = cmpOr(c.Breaker.OpenFor, defaultOpenFor)
	c.LeaseTTL = cmpOr(c.LeaseTTL, defaultLeaseTTL)
	return c
}

// Validate returns every problem of the common fields at once, each with
// its field's YAML path; l are the destination's limits.
func (c Config) Validate(l Limits) error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Name == "" {
		add("name", "required")
	} else if err := sluice.CheckSubscriptionName(c.Name); err != nil {
		add("name", "%q must be 1–128 of A-Z a-z 0-9 . _ : -", c.Name)
	}
	if c.Type == "" {
		add("type", "required")
	}
	if c.Transform != "" {
		if _, err := CompileTransform(c.Transform); err != nil {
			add("transform", "%v", err)
		}
	}
	if _, _, err := parseStart(c.Start); err != nil {
		add("start", "%v", err)
	}
	for _, f := range []struct {
		path string
		neg  bool
	}{
		{"batch.max_events", c.Batch.MaxEvents < 0},
		{"batch.max_bytes", c.Batch.MaxBytes < 0},
		{"batch.linger", c.Batch.Linger < 0},
		{"retry.max_attempts", c.Retry.MaxAttempts < 0},
		{"retry.max_age", c.Retry.MaxAge < 0},
		{"retry.initial_backoff", c.Retry.InitialBackoff < 0},
		{"retry.max_backoff", c.Retry.MaxBackoff < 0},
		{"breaker.failures", c.Breaker.Failures < 0},
		{"breaker.open_for", c.Breaker.OpenFor < 0},
		{"lease_ttl", c.LeaseTTL < 0},
	} {
		if f.neg {
			add(f.path, "must not be negative")
		}
	}
	if l.MaxEvents > 0 && c.Batch.MaxEvents > l.MaxEvents {
		add("batch.max_events", "%d is more than a %s destination takes (%d)", c.Batch.MaxEvents, c.Type, l.MaxEvents)
	}
	if l.MaxBytes > 0 && c.Batch.MaxBytes > l.MaxBytes {
		add("batch.max_bytes", "%d is more than a %s destination takes (%d)", c.Batch.MaxBytes, c.Type, l.MaxBytes)
	}
	return errors.Join(errs...)
}

// parseStart reads a Start: beginning, end, or a position.
func parseStart(s string) (end bool, after sluice.Position, err error) {
	switch s {
	case "", "beginning":
		return false, 0, nil
	case "end":
		return true, 0, nil
	}
	p, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return false, 0, fmt.Errorf("%q is not beginning, end or a position", s)
	}
	return false, sluice.Position(p), nil
}

// cmpOr returns the first of vs that is positive, or the zero value.
func cmpOr[T int | time.Duration](vs ...T) T {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	var zero T
	return zero
}
