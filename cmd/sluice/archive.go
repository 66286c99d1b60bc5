package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/sink/s3"
)

const archiveUsage = `Usage: sluice archive verify [--config FILE] [--sink NAME] [--allow-overlaps] [--allow-gaps]

Reads back every object that an s3 sink wrote under its bucket and prefix
and checks that each one decompresses, holds stored events in position
order that match its name, and that together they hold every position from
the first to the last exactly once. The sink is the one of the
configuration FILE (default $SLUICE_CONFIG) called NAME; without --sink,
its only s3 sink. Prints each problem and a summary; exits 1 when it found
a problem, 0 when none. It also counts the multipart uploads left
incomplete under the prefix (by a crash), which are not a problem.

Problems:

	gap       positions in no object: lost, or left out by design by a sink
	          with a filter or a transform that drops events (--allow-gaps
	          reports them without failing)
	overlap   positions in more than one object: written again after a
	          crash or a takeover between storing an object and moving the
	          checkpoint, or by a replay; nothing is lost, and an object
	          wholly covered by another may be deleted (--allow-overlaps
	          reports them without failing)
	corrupt   an object that does not decompress, holds a line that is not
	          an event, or whose events do not match its name
	stray     an object under the prefix not named as the sink names them

Progress goes to the standard error. See docs/sinks.md (s3).
`

// ArchiveCommand is "sluice archive verify".
type ArchiveCommand struct{ *Main }

// Run verifies the archive that args name.
func (c *ArchiveCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageErrorf("archive: the only subcommand is 'verify'; see 'sluice help archive'")
	}
	fs := flag.NewFlagSet("archive", flag.ContinueOnError)
	file := fs.String("config", "", "")
	name := fs.String("sink", "", "")
	allowOverlaps := fs.Bool("allow-overlaps", false, "")
	allowGaps := fs.Bool("allow-gaps", false, "")
	if err := c.parseFlags(fs, args[1:], archiveUsage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("archive verify: unexpected argument %q; see 'sluice help archive'", fs.Arg(0))
	}
	if !flagSet(fs, "config") {
		*file, _ = c.LookupEnv("SLUICE_CONFIG")
	}
	if *file == "" {
		return usageErrorf("archive verify: --config FILE (or SLUICE_CONFIG) names the configuration of the sink")
	}
	cfg, err := LoadConfig(*file, c.LookupEnv)
	if err != nil {
		return err
	}
	dest, label, err := archiveSink(cfg, *name)
	if err != nil {
		return err
	}
	a, err := dest.Archive(ctx)
	if err != nil {
		return fmt.Errorf("archive verify: %w", err)
	}
	defer a.Close()
	var shown time.Time
	rep, err := a.Verify(ctx, func(done, total int) {
		if time.Since(shown) >= time.Second || done == total {
			fmt.Fprintf(c.Stderr, "verified %d of %d objects\n", done, total)
			shown = time.Now()
		}
	})
	if err != nil {
		return fmt.Errorf("archive verify %s: %w", label, err)
	}
	failing := 0
	for _, p := range rep.Problems {
		fmt.Fprintln(c.Stdout, p)
		if !(*allowOverlaps && p.Kind == s3.ProblemOverlap || *allowGaps && p.Kind == s3.ProblemGap) {
			failing++
		}
	}
	if rep.IncompleteUploads > 0 {
		fmt.Fprintf(c.Stdout, "note: %d multipart upload(s) under the prefix were never completed (left by a crash): their parts are stored until a lifecycle rule (AbortIncompleteMultipartUpload) removes them\n", rep.IncompleteUploads)
	}
	fmt.Fprintf(c.Stdout, "%s: %d objects (%d bytes), %d events", label, rep.Objects, rep.Bytes, rep.Events)
	if rep.Objects > 0 {
		fmt.Fprintf(c.Stdout, ", positions %d to %d", rep.First, rep.Last)
	}
	switch {
	case len(rep.Problems) == 0:
		fmt.Fprintln(c.Stdout, ": ok")
		return nil
	case failing == 0:
		fmt.Fprintf(c.Stdout, ": %d problem(s), all allowed\n", len(rep.Problems))
		return nil
	}
	fmt.Fprintf(c.Stdout, ": %d problem(s)\n", len(rep.Problems))
	return fmt.Errorf("archive verify %s: %d problem(s)", label, failing)
}

// archiveSink returns the s3 sink of cfg called name (its only one when
// name is empty) and how to name it in the report.
func archiveSink(cfg Config, name string) (*s3.Config, string, error) {
	var found []*s3.Config
	var names []string
	for _, sc := range cfg.Sinks {
		dest, ok := sc.Destination.(*s3.Config)
		if !ok || name != "" && sc.Name != name {
			continue
		}
		if err := dest.Validate(); err != nil {
			return nil, "", fmt.Errorf("archive verify: sink %s: %w", sc.Name, err)
		}
		found, names = append(found, dest), append(names, sc.Name)
	}
	switch {
	case len(found) == 1:
		return found[0], fmt.Sprintf("sink %s (s3://%s/%s)", names[0], found[0].Bucket, found[0].Prefix), nil
	case name != "":
		return nil, "", usageErrorf("archive verify: the configuration has no s3 sink called %q", name)
	case len(found) == 0:
		return nil, "", usageErrorf("archive verify: the configuration has no s3 sink")
	}
	return nil, "", errors.New("archive verify: the configuration has several s3 sinks; --sink names one")
}
