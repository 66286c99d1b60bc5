package sink

import (
	"context"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice"
)

// Destination is the part of a sink's configuration that its type owns:
// the fields of a sinks: entry beside the common ones (name, type, filter,
// transform, batch, retry, breaker). Each sink package's Config implements
// it; the command decodes the YAML into it and opens the sink with it.
type Destination interface {
	// Validate returns every problem of the configuration at once, each
	// starting with its field's YAML name ("url: required").
	Validate() error
	// Limits are what the destination takes.
	Limits() Limits
	// Open returns the sink. It should not wait for the destination to be
	// reachable: a destination that is down is the runner's to retry.
	Open(ctx context.Context, env Env) (sluice.Sink, error)
}

// Limits are what a destination takes: the batch a configuration gets
// when it sets none, and the most it may set.
type Limits struct {
	// Default fills the fields a configuration's batch leaves at 0.
	Default Batch
	// MaxEvents and MaxBytes bound what a configuration may set (0: no
	// bound): Kinesis's PutRecords takes 500 records and 5 MiB.
	MaxEvents, MaxBytes int
	// MaxRecordBytes bounds one record's body (0: no bound); a larger
	// record can never be delivered and goes to the dead letters.
	MaxRecordBytes int
}

// Batch bounds the batches the runner hands to Deliver.
type Batch struct {
	// MaxEvents is the most records in a batch.
	MaxEvents int `yaml:"max_events"`
	// MaxBytes is the most bytes of record bodies in a batch (a single
	// larger record is sent alone).
	MaxBytes int `yaml:"max_bytes"`
	// Linger is how long a batch that is not full waits for more records
	// before it is sent; 0 sends what is there.
	Linger time.Duration `yaml:"linger"`
}

// Env is what a sink is opened with besides its configuration.
type Env struct {
	// Name is the sink's name.
	Name string
	// Node names this process among those sharing the store.
	Node string
	// Logger is the process's, with the sink's name.
	Logger *slog.Logger
}
