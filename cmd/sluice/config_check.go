package main

import (
	"context"
	"flag"
	"fmt"
)

const configUsage = `Usage: sluice config check [FILE]

Decodes the YAML configuration FILE strictly, applies the SLUICE_
environment variables as serve would, and validates the result without
starting anything. Prints every problem, or "ok".

Without FILE it checks what serve would run without --config: the file
that SLUICE_CONFIG names if set, else the SLUICE_ variables alone over the
defaults.

The configuration reference is docs/configuration.md.
`

// ConfigCommand is "sluice config check [FILE]".
type ConfigCommand struct{ *Main }

// Run checks the file that args name, or the environment.
func (c *ConfigCommand) Run(_ context.Context, args []string) error {
	if len(args) == 0 || args[0] != "check" {
		return usageErrorf("config: the only subcommand is 'check [FILE]'; see 'sluice help config'")
	}
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	if err := c.parseFlags(fs, args[1:], configUsage); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		file, _ := c.LookupEnv("SLUICE_CONFIG")
		return c.check(file)
	case 1:
		return c.check(fs.Arg(0))
	}
	return usageErrorf("config check: takes at most one FILE; see 'sluice help config'")
}

// check prints every problem of the configuration in file ("": the
// environment and defaults alone), or "ok".
func (c *ConfigCommand) check(file string) error {
	cfg, err := LoadConfig(file, c.LookupEnv)
	problems := append(unjoin(err), unjoin(cfg.Validate())...)
	if len(problems) == 0 {
		fmt.Fprintln(c.Stdout, "ok")
		return nil
	}
	for _, p := range problems {
		fmt.Fprintln(c.Stdout, p)
	}
	what := file
	if what == "" {
		what = "of the environment"
	}
	return fmt.Errorf("config check %s: %d problem(s)", what, len(problems))
}
