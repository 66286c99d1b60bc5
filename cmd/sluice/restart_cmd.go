package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const restartUsage = `Usage: sluice restart [--data DIR] [--config FILE] [--timeout D] [--no-wait]

Restarts the running "sluice serve" in place, as SIGHUP does: it starts the
binary at the same path with the same arguments and hands it its listening
socket; once the new process is ready the old one drains and exits, and no
connection is refused. The process is the one whose id is in the data
directory's sluice.pid. On a PostgreSQL store shared by several nodes, the
nodes restart one at a time (a lock in the database). If the new process
does not become ready (a bad configuration, a schema it cannot use), the old
one keeps serving and logs why.

  --data DIR      the data directory of the running process
                  (SLUICE_DATA, else the configuration's; default ./sluice-data)
  --config FILE   the configuration file to read data from (SLUICE_CONFIG)
  --timeout D     how long to wait for the new process to be ready (default 2m)
  --no-wait       signal the process and return at once

It exits 0 once sluice.pid names the new process, 1 if the timeout passes
first (the old process then still serves: see its log).
`

// RestartCommand is "sluice restart".
type RestartCommand struct{ *Main }

// Run signals the serving process and waits for its successor.
func (c *RestartCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("restart", flag.ContinueOnError)
	data := fs.String("data", "", "")
	file := fs.String("config", "", "")
	timeout := fs.Duration("timeout", 2*time.Minute, "")
	noWait := fs.Bool("no-wait", false, "")
	if err := c.parseFlags(fs, args, restartUsage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("restart: unexpected argument %q; see 'sluice help restart'", fs.Arg(0))
	}
	if !flagSet(fs, "data") {
		if !flagSet(fs, "config") {
			*file, _ = c.LookupEnv("SLUICE_CONFIG")
		}
		cfg, err := LoadConfig(*file, c.LookupEnv)
		if err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		*data = cfg.Data
	}
	path := filepath.Join(*data, pidFileName)
	pid, err := readPID(path)
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("restart: signal process %d: %w", pid, err)
	}
	if *noWait {
		fmt.Fprintf(c.Stdout, "sent SIGHUP to process %d\n", pid)
		return nil
	}
	deadline := time.Now().Add(*timeout)
	for tick := time.NewTicker(50 * time.Millisecond); ; {
		if next, err := readPID(path); err == nil && next != pid {
			fmt.Fprintf(c.Stdout, "restarted: process %d replaced by %d\n", pid, next)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("restart: process %d has no ready successor after %s; it keeps serving: see its log", pid, *timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// readPID reads the process id of a pid file.
func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%s does not exist: is sluice serving with this data directory?", path)
	}
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: %q is not a process id", path, b)
	}
	return pid, nil
}
