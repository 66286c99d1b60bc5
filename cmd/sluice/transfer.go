package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/transfer"
	"github.com/sluicehq/sluice/transfer/s3"
)

// This file holds what import and export share: choosing the store or the
// server, the log's filters, and the progress.

// storeFlags are the flags that choose a store as serve's do.
type storeFlags struct {
	fs                *flag.FlagSet
	data, store, file *string
}

// addStoreFlags adds --data, --store and --config to fs.
func addStoreFlags(fs *flag.FlagSet) *storeFlags {
	def := DefaultConfig()
	return &storeFlags{fs: fs, data: fs.String("data", def.Data, ""), store: fs.String("store", def.Store, ""), file: fs.String("config", "", "")}
}

// given reports whether any of the flags was given.
func (s *storeFlags) given() bool {
	return flagSet(s.fs, "data") || flagSet(s.fs, "store") || flagSet(s.fs, "config")
}

// open opens the store that the flags, the environment and the file
// choose, as serve would.
func (s *storeFlags) open(ctx context.Context, m *Main) (sluice.Store, Config, error) {
	if !flagSet(s.fs, "config") {
		*s.file, _ = m.LookupEnv("SLUICE_CONFIG")
	}
	cfg, err := LoadConfig(*s.file, m.LookupEnv)
	if flagSet(s.fs, "data") {
		cfg.Data = *s.data
	}
	if flagSet(s.fs, "store") {
		cfg.Store = *s.store
	}
	if problems := append(unjoin(err), unjoin(cfg.Validate())...); len(problems) > 0 {
		return nil, cfg, invalidConfig(problems)
	}
	st, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler), 0)
	return st, cfg, err
}

// logFlags are the log's filters and range.
type logFlags struct {
	types, prefix, category *string
	after, until            *uint64
	since, before           *string
}

// addLogFlags adds the filters to fs.
func addLogFlags(fs *flag.FlagSet) *logFlags {
	return &logFlags{
		types: fs.String("type", "", ""), prefix: fs.String("stream-prefix", "", ""), category: fs.String("category", "", ""),
		after: fs.Uint64("after", 0, ""), until: fs.Uint64("until", 0, ""),
		since: fs.String("since", "", ""), before: fs.String("before", "", ""),
	}
}

// source is a LogSource over log with the filters.
func (l *logFlags) source(cmd string, log transfer.LogReader, name string) (*transfer.LogSource, error) {
	s := &transfer.LogSource{Log: log, Name: name, After: sluice.Position(*l.after), Until: sluice.Position(*l.until)}
	s.Filter = sluice.Filter{StreamPrefix: *l.prefix, Category: *l.category}
	if *l.types != "" {
		s.Filter.Types = strings.Split(*l.types, ",")
	}
	for _, t := range []struct {
		flag string
		v    string
		dst  *time.Time
	}{{"since", *l.since, &s.Since}, {"before", *l.before, &s.Before}} {
		if t.v == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, t.v)
		if err != nil {
			return nil, usageErrorf("%s: --%s %q is not an RFC 3339 time", cmd, t.flag, t.v)
		}
		*t.dst = at
	}
	if s.Until > 0 && s.Until <= s.After {
		return nil, usageErrorf("%s: --until %d is not after --after %d", cmd, s.Until, s.After)
	}
	return s, nil
}

// newClient is a client of the server at url with the key of --key or,
// without, SLUICE_KEY.
func (m *Main) newClient(url, key string) *client.Client {
	if key == "" {
		key, _ = m.LookupEnv("SLUICE_KEY")
	}
	return client.New(url, client.WithKey(key))
}

// progress is how a command reports: JSON lines with asJSON (on stdout,
// unless stdout holds the data), a bar on a terminal, else plain lines.
func (m *Main) progress(label string, asJSON, dataOnStdout bool, every time.Duration) *transfer.Progress {
	p := &transfer.Progress{W: m.Stderr, Label: label, Every: every}
	switch {
	case asJSON:
		p.Mode = transfer.JSON
		if !dataOnStdout {
			p.W = m.Stdout
		}
	case isTerminal(m.Stderr):
		p.Mode = transfer.Bar
	}
	return p
}

// isRemote reports whether s names a server.
func isRemote(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// closeAll closes c, keeping the first error.
func closeAll(err error, c ...io.Closer) error {
	for _, x := range c {
		if cerr := x.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// awsFlags are the AWS flags of the sources and targets in AWS.
type awsFlags struct {
	region, endpoint, profile *string
	pathStyle                 *bool
}

// addAWSFlags adds them to fs.
func addAWSFlags(fs *flag.FlagSet) *awsFlags {
	return &awsFlags{region: fs.String("region", "", ""), endpoint: fs.String("endpoint", "", ""),
		profile: fs.String("profile", "", ""), pathStyle: fs.Bool("path-style", false, "")}
}

// aws is the AWS configuration of the flags.
func (a *awsFlags) aws() (awsconf.Config, error) {
	c := awsconf.Config{Region: *a.region, Endpoint: *a.endpoint, Profile: *a.profile}
	if problems := c.Problems(); len(problems) > 0 {
		return c, usageErrorf("%v", errors.Join(problems...))
	}
	return c, nil
}

// s3 is the S3 configuration of the flags.
func (a *awsFlags) s3() (s3.Options, error) {
	c, err := a.aws()
	return s3.Options{AWS: c, PathStyle: *a.pathStyle}, err
}
