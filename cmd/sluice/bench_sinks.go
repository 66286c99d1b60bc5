package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sluicehq/sluice/internal/bench"
)

// benchSinks is "sluice bench sinks": delivery latency and throughput of
// the webhook and file sinks, optionally beside a sink whose receiver
// hangs.
func (c *BenchCommand) benchSinks(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench sinks", flag.ContinueOnError)
	var cfg bench.SinksConfig
	fs.Float64Var(&cfg.Rate, "rate", 10_000, "")
	fs.IntVar(&cfg.Batch, "batch", 10, "")
	fs.IntVar(&cfg.Connections, "connections", 16, "")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "")
	fs.IntVar(&cfg.Drain, "drain", 200_000, "")
	hang := fs.Bool("hang", false, "")
	dataDir := fs.String("data-dir", "", "")
	jsonf := fs.Bool("json", false, "")
	if err := c.parseFlags(fs, args, benchUsage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("bench sinks: unexpected argument %q; see 'sluice help bench'", fs.Arg(0))
	}
	if cfg.Rate <= 0 || cfg.Batch <= 0 || cfg.Connections <= 0 || cfg.Duration <= 0 || cfg.Drain < 500 {
		return usageErrorf("bench sinks: --rate, --batch, --connections and --duration must be positive, --drain at least 500; see 'sluice help bench'")
	}
	dir, err := os.MkdirTemp(*dataDir, "sluice-bench-sinks-")
	if err != nil {
		return fmt.Errorf("bench sinks: %w", err)
	}
	defer os.RemoveAll(dir)
	rc, err := bench.NewReceivers(dir, *hang)
	if err != nil {
		return fmt.Errorf("bench sinks: %w", err)
	}
	defer rc.Close()
	srv, err := spawn(ctx, spawnOptions{dataDir: *dataDir, config: rc.Config()})
	if err != nil {
		return fmt.Errorf("bench sinks: %w", err)
	}
	defer srv.close()
	cfg.URL, cfg.Key, cfg.PID = srv.base, srv.adminKey, srv.pid()
	fmt.Fprintf(c.Stderr, "bench sinks: %s events/s for %s, then drains of %s events ...\n", bench.Thousands(cfg.Rate), cfg.Duration, bench.Thousands(float64(cfg.Drain)))
	res, err := bench.Sinks(ctx, cfg, rc)
	err = errors.Join(err, srv.stop())
	if err != nil {
		return fmt.Errorf("bench sinks: %w", err)
	}
	if *jsonf {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printSinksReport(c.Stdout, cfg, res)
	return nil
}

// printSinksReport writes res for people.
func printSinksReport(w io.Writer, cfg bench.SinksConfig, res bench.SinksResult) {
	hung := ""
	if res.Hung {
		hung = "; a third sink's receiver hangs"
	}
	fmt.Fprintf(w, "sluice bench sinks: %s events/s durable, %d per request, %d connections, %s%s\n",
		bench.Thousands(cfg.Rate), cfg.Batch, cfg.Connections, cfg.Duration, hung)
	fmt.Fprintf(w, "  ingest       %s events, %s/s; %d errors, %d requests late\n", bench.Thousands(float64(res.Events)), bench.Thousands(res.EventsPerSec), res.IngestErrors, res.Late)
	fmt.Fprintf(w, "               %s (durable ingest requests, from when due)\n", formatLatency(res.Ingest))
	for _, s := range res.Sinks {
		fmt.Fprintf(w, "  %-12s %s (commit start → arrival, %s events)\n", s.Name, formatLatency(s.Latency), bench.Thousands(float64(s.Delivered)))
		fmt.Fprintf(w, "  %-12s %s (acknowledged → arrival; %s before the acknowledgement)\n", "", formatLatency(s.AckLatency), bench.Thousands(float64(s.BeforeAck)))
		fmt.Fprintf(w, "               drain: %s events/s from the log, %.2f server CPU seconds per million events\n", bench.Thousands(s.DrainPerSec), s.DrainCPU)
	}
}
