package transfer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
)

// ServerTarget sends events to a server's ingest API (POST /v1/events,
// durable), which validates them against its schemas: what it rejects is
// refused with its reasons. An overloaded or rate-limiting server (429,
// 503) is asked again after its Retry-After, until the context ends.
type ServerTarget struct {
	Client *client.Client
	// Chunk is the events sent per request; default 500.
	Chunk int
}

var _ Target = (*ServerTarget)(nil)

// Write sends events, Chunk at a time.
func (t *ServerTarget) Write(ctx context.Context, events []sluice.Event) (Written, error) {
	chunk := t.Chunk
	if chunk <= 0 {
		chunk = 500
	}
	var w Written
	for off := 0; off < len(events); off += chunk {
		part := events[off:min(off+chunk, len(events))]
		res, err := t.ingest(ctx, part)
		var apiErr *client.Error
		switch {
		case errors.As(err, &apiErr) && apiErr.Code == "invalid_events":
			for _, r := range apiErr.Rejections() {
				w.Refused = append(w.Refused, Refusal{Index: off + r.Index, Reason: reasons(r.Errors)})
			}
			continue
		case err != nil:
			return Written{}, fmt.Errorf("ingest: %w", err)
		}
		w.Stored += res.Accepted
		w.Duplicates += res.Duplicates
		for _, r := range res.Rejected {
			w.Refused = append(w.Refused, Refusal{Index: off + r.Index, Reason: reasons(r.Errors)})
		}
	}
	return w, nil
}

// ingest sends events, again while the server asks to wait.
func (t *ServerTarget) ingest(ctx context.Context, events []sluice.Event) (client.IngestResult, error) {
	wait := 100 * time.Millisecond
	for {
		res, err := t.Client.Ingest(ctx, events)
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || (apiErr.Status != http.StatusTooManyRequests && apiErr.Status != http.StatusServiceUnavailable) {
			return res, err
		}
		d := apiErr.RetryAfter
		if d <= 0 {
			d, wait = wait, min(2*wait, 5*time.Second)
		}
		select {
		case <-ctx.Done():
			return res, errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
	}
}

// reasons joins the problems of one event.
func reasons(errs []client.FieldError) string {
	s := make([]string, len(errs))
	for i, e := range errs {
		s[i] = strings.TrimSpace(e.Path + " " + e.Message)
	}
	return strings.Join(s, "; ")
}

// Close does nothing.
func (t *ServerTarget) Close() error { return nil }
