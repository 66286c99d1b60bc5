package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3".
var version = "dev"

const versionUsage = `Usage: sluice version

Prints sluice's version and the Go version it was built with.
`

// VersionCommand is "sluice version".
type VersionCommand struct{ *Main }

// Run prints the version.
func (c *VersionCommand) Run(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := c.parseFlags(fs, args, versionUsage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("version: takes no arguments")
	}
	fmt.Fprintf(c.Stdout, "sluice %s (%s)\n", version, runtime.Version())
	return nil
}
