package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/sluicehq/sluice/internal/bench"
)

// benchSubscribe is "sluice bench subscribe": the latency of delivery to a
// subscriber over HTTP, and of read-your-writes waits, under a steady
// ingest.
func (c *BenchCommand) benchSubscribe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench subscribe", flag.ContinueOnError)
	var cfg bench.SubscribeConfig
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:7070", "")
	fs.StringVar(&cfg.Key, "key", "", "")
	fs.Float64Var(&cfg.Rate, "rate", 10_000, "")
	fs.IntVar(&cfg.Batch, "batch", 10, "")
	fs.IntVar(&cfg.Connections, "connections", 16, "")
	fs.DurationVar(&cfg.Duration, "duration", bench.DefaultDuration, "")
	fs.Float64Var(&cfg.Waits, "waits", 100, "")
	spawnIt := fs.Bool("spawn", false, "")
	store := fs.String("store", "", "")
	dataDir := fs.String("data-dir", "", "")
	jsonf := fs.Bool("json", false, "")
	if err := c.parseFlags(fs, args, benchUsage); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("bench subscribe: unexpected argument %q; see 'sluice help bench'", fs.Arg(0))
	}
	if !flagSet(fs, "key") {
		cfg.Key, _ = c.LookupEnv("SLUICE_BENCH_ADMIN_KEY")
	}
	var problems []error
	if *spawnIt && flagSet(fs, "url") {
		problems = append(problems, errors.New("--url and --spawn: give one (--spawn makes the URL)"))
	}
	if !*spawnIt && (*store != "" || *dataDir != "") {
		problems = append(problems, errors.New("--store and --data-dir need --spawn"))
	}
	if !*spawnIt && cfg.Key == "" {
		problems = append(problems, errors.New("--key (an admin key, or SLUICE_BENCH_ADMIN_KEY) is required without --spawn"))
	}
	if cfg.Rate <= 0 || cfg.Batch <= 0 || cfg.Connections <= 0 || cfg.Duration <= 0 || cfg.Waits <= 0 {
		problems = append(problems, errors.New("--rate, --batch, --connections, --duration and --waits must be positive"))
	}
	if len(problems) > 0 {
		return usageErrorf("bench subscribe: %v; see 'sluice help bench'", errors.Join(problems...))
	}
	var srv *spawned
	if *spawnIt {
		var err error
		if srv, err = spawn(ctx, spawnOptions{store: *store, dataDir: *dataDir}); err != nil {
			return fmt.Errorf("bench subscribe: %w", err)
		}
		defer srv.close()
		cfg.URL, cfg.Key = srv.base, srv.adminKey
	}
	fmt.Fprintf(c.Stderr, "bench subscribe: %s events/s for %s ...\n", bench.Thousands(cfg.Rate), cfg.Duration)
	var res bench.SubscribeResult
	server, err := watched(srv, func() (err error) {
		res, err = bench.Subscribe(ctx, cfg)
		return err
	})
	res.Server = server
	if err != nil {
		return fmt.Errorf("bench subscribe: %w", err)
	}
	if *jsonf {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printSubscribeReport(c.Stdout, cfg, res)
	return nil
}

// printSubscribeReport writes res for people.
func printSubscribeReport(w io.Writer, cfg bench.SubscribeConfig, res bench.SubscribeResult) {
	fmt.Fprintf(w, "sluice bench subscribe: %s events/s durable, %d per request, %d connections, %s; %g writes/s waited for\n",
		bench.Thousands(cfg.Rate), cfg.Batch, cfg.Connections, cfg.Duration, cfg.Waits)
	fmt.Fprintf(w, "  ingest     %s events, %s/s; %d errors, %d requests late\n", bench.Thousands(float64(res.Events)), bench.Thousands(res.EventsPerSec), res.IngestErrors, res.Late)
	fmt.Fprintf(w, "             %s (durable ingest requests, from when due)\n", formatLatency(res.Ingest))
	fmt.Fprintf(w, "  delivery   %s (durable ack → subscriber, %s events; %d delivered before their ack)\n", formatLatency(res.Delivery), bench.Thousands(float64(res.Delivered)), res.BeforeAck)
	fmt.Fprintf(w, "  wait       %s (subscriber's ack → wait returns, %d waits, %d timeouts)\n", formatLatency(res.Wait), res.Waits, res.WaitTimeouts)
	if res.Server != nil {
		fmt.Fprintf(w, "  server     %.1f CPU seconds, peak RSS %.1f MiB\n", res.Server.CPUSeconds, float64(res.Server.PeakRSSBytes)/(1<<20))
	}
}
