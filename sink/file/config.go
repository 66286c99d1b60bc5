package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

var _ sink.Destination = (*Config)(nil)

// Stdout is the path that names the standard output.
const Stdout = "-"

// Config is a file sink's own fields in a sinks: entry.
type Config struct {
	// Path is the file the records are appended to, one per line, created
	// when missing (its directory must exist), or "-" for the standard
	// output. Required.
	Path string `yaml:"path"`
	// MaxBytes: a file that the next batch would grow past it is rotated
	// first (a batch larger than it makes a file of its own). Default
	// 104857600 (100 MiB).
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxFiles is how many rotated files are kept; the oldest beyond it
	// are removed. Default 10.
	MaxFiles int `yaml:"max_files"`
	// Fsync: each batch is flushed to the disk (and a new file's
	// directory entry with it) before it counts as delivered, so that a
	// crash or a power cut loses no delivered record. Off, a crash of
	// the machine may lose what was written in its last seconds. Default
	// true.
	Fsync *bool `yaml:"fsync"`
}

// The defaults.
const (
	defaultMaxBytes = 100 << 20
	defaultMaxFiles = 10
)

// Validate returns every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, msg string) { errs = append(errs, fmt.Errorf("%s: %s", field, msg)) }
	switch {
	case c.Path == "":
		add("path", `required: a file, or "-" for the standard output`)
	case c.Path == Stdout:
		if c.MaxBytes != 0 || c.MaxFiles != 0 {
			add("max_bytes", "the standard output is not rotated")
		}
		if c.Fsync != nil && *c.Fsync {
			add("fsync", "the standard output is not synced")
		}
	case filepath.Base(c.Path) == "." || filepath.Base(c.Path) == string(filepath.Separator) || c.Path[len(c.Path)-1] == filepath.Separator:
		add("path", fmt.Sprintf("%q names a directory, not a file", c.Path))
	}
	if c.MaxBytes < 0 {
		add("max_bytes", "must not be negative")
	}
	if c.MaxFiles < 0 {
		add("max_files", "must not be negative")
	}
	return errors.Join(errs...)
}

// Limits: a file takes any batch; a batch is one write and one fsync, so
// batches of 1,000 records spread the fsync's cost.
func (c *Config) Limits() sink.Limits {
	return sink.Limits{Default: sink.Batch{MaxEvents: 1000, MaxBytes: 4 << 20}}
}

// Open returns the sink. It opens nothing: every batch opens the file,
// appends and closes it. For the standard output it ignores SIGPIPE, for
// the whole process, so that a reader that goes away makes deliveries
// fail (EPIPE) instead of killing sluice.
func (c *Config) Open(_ context.Context, env sink.Env) (sluice.Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Sink{path: c.Path, maxBytes: c.MaxBytes, maxFiles: c.MaxFiles, fsync: c.Fsync == nil || *c.Fsync, log: log}
	if s.maxBytes == 0 {
		s.maxBytes = defaultMaxBytes
	}
	if s.maxFiles == 0 {
		s.maxFiles = defaultMaxFiles
	}
	if c.Path == Stdout {
		s.stdout = os.Stdout
		signal.Ignore(syscall.SIGPIPE)
	}
	return s, nil
}
