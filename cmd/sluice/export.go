package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/transfer"
	"github.com/sluicehq/sluice/transfer/s3"
)

const exportUsage = `Usage: sluice export [flags]

Writes the events of a log as NDJSON, one stored event a line as GET
/v1/events returns it (id, type, stream, source, time, data, metadata,
position, version, recorded_at), in position order: what sluice import
reads back. The log is a store (--data, --store, --config, as serve chooses
it; the default is the embedded store in ./sluice-data), or a server's over
its API (--from, with a read key).

  --out FILE        the file (default -, the standard output); written
                    under a temporary name and renamed when complete;
                    s3://BUCKET/KEY: an S3 object, written to a temporary
                    local file and uploaded when complete (at most 5 GB)
  --region R, --endpoint URL, --profile P, --path-style
                    S3: AWS region, endpoint (MinIO), profile, bucket in
                    the path; credentials from the SDK's default chain
  --gzip            compress (gzip); the default when FILE ends in .gz
  --from URL        a server's base URL instead of a store
  --key KEY         a read key for --from (default SLUICE_KEY)
  --data DIR, --store URL, --config FILE   a store, as for serve

Filters:
  --after P, --until P               positions: after P, up to P
  --type A,B, --stream-prefix S, --category C
  --since T, --before T              recorded at or after T, before T
                                     (RFC 3339)

  --json            progress and summary as JSON lines (on the standard
                    output, or the standard error when the events go there)
  --every D         how often progress is reported when not on a terminal
                    (default 5s)

The export reads up to the log's head as it was at the start (or --until).
`

// ExportCommand is "sluice export".
type ExportCommand struct{ *Main }

// Run exports the log that args choose.
func (c *ExportCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	out := fs.String("out", "-", "")
	gz := fs.Bool("gzip", false, "")
	from := fs.String("from", "", "")
	key := fs.String("key", "", "")
	stores := addStoreFlags(fs)
	logs := addLogFlags(fs)
	awsf := addAWSFlags(fs)
	asJSON := fs.Bool("json", false, "")
	every := fs.Duration("every", 5*time.Second, "")
	if err := c.parseFlags(fs, args, exportUsage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("export: unexpected argument %q; see 'sluice help export'", fs.Arg(0))
	}
	if *from != "" && stores.given() {
		return usageErrorf("export: --from or a store (--data, --store, --config), not both")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var src *transfer.LogSource
	if *from != "" {
		s, err := logs.source("export", transfer.LogClient{Client: c.newClient(*from, *key)}, *from)
		if err != nil {
			return err
		}
		src = s
	} else {
		st, _, err := stores.open(ctx, c.Main)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer st.Close()
		if src, err = logs.source("export", st, "store"); err != nil {
			return err
		}
		if src.Head, err = st.Head(ctx); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if src.Until == 0 {
			src.Until = max(src.Head, src.After) // at After: nothing to read
		}
	}
	dst, err := c.target(ctx, *out, *gz || strings.HasSuffix(*out, ".gz"), awsf)
	if err != nil {
		return err
	}
	_, err = transfer.Copy(ctx, src, dst, transfer.Options{Progress: c.progress("export", *asJSON, *out == "-", *every)})
	if err != nil {
		dst.Abort()
		return fmt.Errorf("export: %w", err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// exportTarget is where an export writes.
type exportTarget interface {
	transfer.Target
	// Abort removes what a failed export wrote.
	Abort()
}

// target opens the file, the standard output or the S3 object out.
func (c *ExportCommand) target(ctx context.Context, out string, gz bool, awsf *awsFlags) (exportTarget, error) {
	switch {
	case out == "-":
		return transfer.NewNDJSONWriter(c.Stdout, gz), nil
	case strings.HasPrefix(out, "s3://"):
		o, err := awsf.s3()
		if err != nil {
			return nil, err
		}
		w, err := s3.Create(ctx, out, gz, o)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		return w, nil
	}
	f, err := transfer.CreateFile(out, gz)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return f, nil
}
