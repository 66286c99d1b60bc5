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
	"github.com/sluicehq/sluice/transfer/dynamodb"
	"github.com/sluicehq/sluice/transfer/kinesis"
	"github.com/sluicehq/sluice/transfer/s3"
)

const importUsage = `Usage: sluice import [flags] SOURCE

Copies events from SOURCE into a sluice: the running server over its API
(--to), or straight into a store (--data, --store, --config, as serve
chooses it; the default is the embedded store in ./sluice-data).

SOURCE is
  FILE, or - for the standard input
                  NDJSON, one event a line, plain or gzip (told by its
                  first bytes): native envelopes or stored events as
                  sluice export and GET /v1/events write them; with
                  --cloudevents, CloudEvents in the JSON format
  dynamodb://TABLE
                  a DynamoDB table: a parallel Scan in --segments segments,
                  each item mapped to an envelope by the jq expression
                  --map; an envelope without an id gets one made from the
                  table and the item's key, so a run again stores nothing
                  twice; --cursor keeps each segment's place after every
                  page stored, and --resume continues from it
  kinesis://STREAM
                  a Kinesis stream: every shard from TRIM_HORIZON (or
                  --since T, AT_TIMESTAMP), a child shard once its parents
                  are read to their end, until every shard is read to its
                  end or caught up with the tip; each record's data is an
                  envelope (with --cloudevents, a CloudEvent); one without
                  an id gets one made from the stream and its sequence
                  number
  s3://BUCKET/KEY an NDJSON file in S3, as FILE
  http(s)://HOST  another sluice: its log (GET /v1/events) read with a read
                  key (--source-key, or SLUICE_SOURCE_KEY) from --after,
                  with the filters below

An event keeps its id, type, stream, source, time, data and metadata; its
position, version and time of recording are the target's. An id already in
the target is counted as a duplicate and not stored again, so an import
that stopped can simply be run again. Through --to, the server validates
every event against its schemas; straight into a store, only the envelope's
rules apply. Records that are not events, and events the target refuses,
go to the reject file with the reason; the summary counts them.

Target:
  --to URL          a server's base URL (http://127.0.0.1:7070)
  --key KEY         a write or admin key for --to (default SLUICE_KEY)
  --data DIR, --store URL, --config FILE   a store, as for serve

Source:
  --cloudevents     FILE holds CloudEvents
  --source-key KEY  a read key of the sluice SOURCE (default
                    SLUICE_SOURCE_KEY)
  --segments N      DynamoDB: parallel Scan segments (default 4)
  --map EXPR        DynamoDB: jq from an item (S strings, N numbers, B
                    base64, M objects, L and sets arrays) to an envelope,
                    with $table (default {type: $table, data: .})
  --cursor FILE     DynamoDB: the cursor file (default
                    sluice-import-TABLE.cursor.json)
  --resume          DynamoDB: continue the scan of --cursor; without it an
                    existing cursor file is an error
  --region R, --endpoint URL, --profile P, --path-style
                    DynamoDB, Kinesis and S3: AWS region, endpoint (a local
                    dynalite, kinesalite, MinIO), shared-configuration
                    profile, bucket in the path (S3); credentials come
                    from the SDK's default chain
  --after P, --until P               positions: after P, up to P (sluice)
  --type A,B, --stream-prefix S, --category C
  --since T, --before T              recorded at or after T, before T
                                     (RFC 3339; sluice; Kinesis: --since
                                     is where every shard starts)

Output:
  --rejects FILE    the reject file (default sluice-import-rejects.ndjson,
                    created at the first reject)
  --max-rejects N   stop after more than N rejects (default 0: no bound)
  --json            progress and summary as JSON lines on the standard
                    output
  --every D         how often progress is reported when not on a terminal
                    (default 5s)

Progress goes to the standard error: a bar on a terminal, a line every
--every otherwise. SIGINT or SIGTERM stops after the batch being written.
Exit status 0 when the copy reached the end, rejects or not; 1 otherwise.
`

// ImportCommand is "sluice import".
type ImportCommand struct{ *Main }

// Run imports the SOURCE of args.
func (c *ImportCommand) Run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	to := fs.String("to", "", "")
	key := fs.String("key", "", "")
	stores := addStoreFlags(fs)
	cloudEvents := fs.Bool("cloudevents", false, "")
	sourceKey := fs.String("source-key", "", "")
	logs := addLogFlags(fs)
	awsSrc := addAWSSourceFlags(fs)
	rejectsPath := fs.String("rejects", "sluice-import-rejects.ndjson", "")
	maxRejects := fs.Int64("max-rejects", 0, "")
	asJSON := fs.Bool("json", false, "")
	every := fs.Duration("every", 5*time.Second, "")
	if err := c.parseFlags(fs, args, importUsage); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErrorf("import: one SOURCE is needed; see 'sluice help import'")
	}
	if *to != "" && stores.given() {
		return usageErrorf("import: --to or a store (--data, --store, --config), not both")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := c.source(ctx, fs.Arg(0), *cloudEvents, *sourceKey, logs, awsSrc)
	if err != nil {
		return err
	}
	defer src.Close()
	var dst transfer.Target
	if *to != "" {
		dst = &transfer.ServerTarget{Client: c.newClient(*to, *key)}
	} else {
		st, cfg, err := stores.open(ctx, c.Main)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer st.Close()
		dst = &transfer.StoreTarget{Log: st, Limits: cfg.limits()}
	}
	rejects := transfer.NewRejectFile(*rejectsPath)
	sum, err := transfer.Copy(ctx, src, dst, transfer.Options{
		Rejects: rejects, MaxRejects: *maxRejects,
		Progress: c.progress("import", *asJSON, false, *every),
	})
	if err = closeAll(err, dst, rejects); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if sum.Rejected > 0 && !*asJSON {
		fmt.Fprintf(c.Stderr, "import: %d rejected, with the reasons in %s\n", sum.Rejected, rejects.Path())
	}
	return nil
}

// source opens the SOURCE named s.
func (c *ImportCommand) source(ctx context.Context, s string, cloudEvents bool, key string, logs *logFlags, af *awsSourceFlags) (transfer.Source, error) {
	if table, ok := strings.CutPrefix(s, "dynamodb://"); ok {
		return af.open(ctx, table)
	}
	if stream, ok := strings.CutPrefix(s, "kinesis://"); ok {
		return af.openKinesis(ctx, stream, cloudEvents, logs)
	}
	if strings.HasPrefix(s, "s3://") {
		o, err := af.s3()
		if err != nil {
			return nil, err
		}
		src, err := s3.Open(ctx, s, cloudEvents, o)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		return src, nil
	}
	if isRemote(s) {
		if key == "" {
			key, _ = c.LookupEnv("SLUICE_SOURCE_KEY")
		}
		return logs.source("import", transfer.LogClient{Client: c.newClient(s, key)}, s)
	}
	src, err := transfer.OpenFile(s, cloudEvents)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return src, nil
}

// awsSourceFlags are the flags of the DynamoDB, Kinesis and S3 sources.
type awsSourceFlags struct {
	*awsFlags
	segments        *int
	mapExpr, cursor *string
	resume          *bool
}

// addAWSSourceFlags adds them to fs.
func addAWSSourceFlags(fs *flag.FlagSet) *awsSourceFlags {
	return &awsSourceFlags{
		segments: fs.Int("segments", 4, ""), mapExpr: fs.String("map", dynamodb.DefaultMap, ""),
		cursor: fs.String("cursor", "", ""), resume: fs.Bool("resume", false, ""),
		awsFlags: addAWSFlags(fs),
	}
}

// open opens the scan of table.
func (d *awsSourceFlags) open(ctx context.Context, table string) (transfer.Source, error) {
	if table == "" {
		return nil, usageErrorf("import: dynamodb:// needs a table name")
	}
	aws, err := d.aws()
	if err != nil {
		return nil, err
	}
	cursor := *d.cursor
	if cursor == "" {
		cursor = "sluice-import-" + table + ".cursor.json"
	}
	src, err := dynamodb.Open(ctx, dynamodb.Options{Table: table, Segments: *d.segments, Map: *d.mapExpr,
		CursorFile: cursor, Resume: *d.resume, AWS: aws})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return src, nil
}

// openKinesis opens the reading of stream, from --since when given.
func (d *awsSourceFlags) openKinesis(ctx context.Context, stream string, cloudEvents bool, logs *logFlags) (transfer.Source, error) {
	if stream == "" {
		return nil, usageErrorf("import: kinesis:// needs a stream name")
	}
	aws, err := d.aws()
	if err != nil {
		return nil, err
	}
	o := kinesis.Options{Stream: stream, CloudEvents: cloudEvents, AWS: aws}
	if *logs.since != "" {
		if o.Since, err = time.Parse(time.RFC3339Nano, *logs.since); err != nil {
			return nil, usageErrorf("import: --since %q is not an RFC 3339 time", *logs.since)
		}
	}
	src, err := kinesis.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return src, nil
}
