package main

import (
	"log/slog"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
)

// retention returns the retention loop that cfg configures over store, nil
// when it removes nothing (Validate has refused retention on a store
// without it).
func (cfg Config) retention(store sluice.Store, log *slog.Logger) *consumer.Retention {
	rs, ok := store.(consumer.RetentionStore)
	if !cfg.Retention.enabled() || !ok {
		return nil
	}
	p := sluice.RetentionPolicy{MaxAge: cfg.Retention.MaxAge, MaxBytes: cfg.Retention.MaxBytes}
	for _, s := range cfg.Sinks {
		if s.Archive {
			p.Archives = append(p.Archives, sluice.SinkConsumer(s.Name))
		}
	}
	return &consumer.Retention{Store: rs, Policy: p, Every: cfg.Retention.Every, Holder: cfg.node(), Logger: log}
}
