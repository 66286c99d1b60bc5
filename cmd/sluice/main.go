// Command sluice runs the sluice event backbone. See "sluice help".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	m := NewMain()
	err := m.Run(context.Background(), os.Args[1:])
	if err != nil {
		fmt.Fprintln(m.Stderr, "sluice:", err)
	}
	os.Exit(exitCode(err))
}

// Main is the sluice command with its environment: where it writes and
// where it reads its SLUICE_ variables. Tests build their own.
type Main struct {
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv reads an environment variable.
	LookupEnv func(key string) (string, bool)
	// Restarts lets serve restart in place on SIGHUP (restart.go). A
	// process has one such restarter, so tests that run serve in-process
	// leave it off.
	Restarts bool
}

// NewMain returns a Main on the process's standard output, standard error
// and environment.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv, Restarts: true}
}

// Run runs the subcommand that args name (args without the program name).
func (m *Main) Run(ctx context.Context, args []string) error {
	err := m.run(ctx, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil // the help asked for is printed
	}
	return err
}

// run dispatches args to their subcommand.
func (m *Main) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return usageErrorf("no command given")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return (&ServeCommand{m}).Run(ctx, args)
	case "config":
		return (&ConfigCommand{m}).Run(ctx, args)
	case "restart":
		return (&RestartCommand{m}).Run(ctx, args)
	case "bench":
		return (&BenchCommand{m}).Run(ctx, args)
	case "import":
		return (&ImportCommand{m}).Run(ctx, args)
	case "export":
		return (&ExportCommand{m}).Run(ctx, args)
	case "archive":
		return (&ArchiveCommand{m}).Run(ctx, args)
	case "backup":
		return (&BackupCommand{m}).Run(ctx, args)
	case "restore":
		return (&RestoreCommand{m}).Run(ctx, args)
	case "version":
		return (&VersionCommand{m}).Run(ctx, args)
	case "help", "-h", "-help", "--help":
		return (&HelpCommand{m}).Run(ctx, args)
	}
	return usageErrorf("unknown command %q; see 'sluice help'", cmd)
}

// UsageError is a mistake in the command line.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

// usageErrorf returns a *UsageError.
func usageErrorf(format string, args ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode is the process's exit status for Run's error: 0 for none, 2 for
// a usage error, 1 for anything else.
func exitCode(err error) int {
	var ue *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	}
	return 1
}
