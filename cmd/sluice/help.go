package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// usage is the help of sluice itself.
const usage = `sluice takes events in over HTTP, keeps them in an append-only log and hands
them on.

Usage:

	sluice <command> [arguments]

Commands:

	serve          run the HTTP API
	restart        restart the running serve in place (as SIGHUP), without
	               refusing a connection
	config check   check a configuration (a file, or SLUICE_ variables) without starting
	bench          send load to a sluice and measure it; bench suite: the
	               standard scenarios against baselines
	import         copy events into a sluice from NDJSON or CloudEvents files
	               or another sluice
	export         write a log's events as NDJSON (gzip), with its filters
	archive verify check what an s3 sink archived: every position once,
	               every object readable
	backup         copy the embedded store, running or not, into a directory or S3
	restore        make a data directory of such a copy
	version        print the version and the schema migrations it knows
	help           print this help, or a command's: sluice help serve

The configuration reference is docs/configuration.md.
`

// commandHelp is each command's help.
var commandHelp = map[string]string{
	"serve":   serveUsage,
	"restart": restartUsage,
	"config":  configUsage,
	"bench":   benchUsage,
	"import":  importUsage,
	"export":  exportUsage,
	"archive": archiveUsage,
	"backup":  backupUsage,
	"restore": restoreUsage,
	"version": versionUsage,
}

// HelpCommand is "sluice help [COMMAND]".
type HelpCommand struct{ *Main }

// Run prints the help of sluice, or of the command args name.
func (c *HelpCommand) Run(_ context.Context, args []string) error {
	switch len(args) {
	case 0:
		fmt.Fprint(c.Stdout, usage)
		return nil
	case 1:
		if h, ok := commandHelp[args[0]]; ok {
			fmt.Fprint(c.Stdout, h)
			return nil
		}
		return usageErrorf("help: unknown command %q", args[0])
	}
	return usageErrorf("help: takes at most one command")
}

// parseFlags parses args with fs. For -h it prints help on stdout and
// returns flag.ErrHelp; other mistakes are usage errors.
func (m *Main) parseFlags(fs *flag.FlagSet, args []string, help string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(m.Stdout, help)
		return err
	}
	return usageErrorf("%s: %v; see 'sluice help %s'", fs.Name(), err, fs.Name())
}
