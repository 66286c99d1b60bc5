package testserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/schema"
)

// Server is the API of one store on a loopback port.
type Server struct {
	// URL is the server's base URL.
	URL string
	// API is the handler, for Drain.
	API   *httpapi.Server
	Store sluice.Store
	close func() error
}

// Start serves store with cfg and opts, logging to log (nil:
// slog.Default). The caller closes the server, then the store.
func Start(store sluice.Store, cfg httpapi.Config, log *slog.Logger, opts ...httpapi.Option) (*Server, error) {
	ctx := context.Background()
	w := sluice.NewWriter(store, sluice.WriterOptions{})
	registry := schema.New(store, schema.Options{})
	if err := registry.Load(ctx); err != nil {
		return nil, errors.Join(err, w.Close(ctx))
	}
	rctx, cancel := context.WithCancel(ctx)
	refreshed := make(chan struct{})
	go func() { defer close(refreshed); _ = registry.Run(rctx) }()
	api, err := httpapi.New(store, w, registry, cfg, log, opts...)
	if err != nil {
		cancel()
		<-refreshed
		return nil, errors.Join(err, w.Close(ctx))
	}
	keysRefreshed := make(chan struct{})
	go func() { defer close(keysRefreshed); api.RefreshKeys(rctx) }()
	ts := httptest.NewServer(api)
	return &Server{URL: ts.URL, API: api, Store: store, close: func() error {
		api.Drain() // long polls and live tails end
		ts.Close()
		err := w.Close(ctx)
		cancel()
		<-refreshed
		<-keysRefreshed
		return err
	}}, nil
}

// Close stops the server as serve does: drain, stop listening, commit the
// queue, stop refreshing the registry. The store stays open.
func (s *Server) Close() error { return s.close() }

// New starts a server for the test and closes it when the test ends.
func New(tb testing.TB, store sluice.Store, cfg httpapi.Config, opts ...httpapi.Option) *Server {
	tb.Helper()
	s, err := Start(store, cfg, nil, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("stop the server: %v", err)
		}
	})
	return s
}
