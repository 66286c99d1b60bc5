package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// Handler processes one batch of a subscription's events, in log order.
// The batch is acknowledged only once it returns nil.
type Handler func(ctx context.Context, events []sluice.Event) error

// SubscribeOption tunes Subscribe.
type SubscribeOption func(*subscribeOptions)

type subscribeOptions struct {
	wait    time.Duration
	limit   int
	reader  string
	onRetry func(err error, delay time.Duration)
}

// LongPoll is how long each request of Subscribe waits for events when
// there are none. Default 30s; at most 60s. A process that dies keeps the
// subscription from its standbys for up to the server's reader TTL (30s);
// one whose Subscribe returns releases it at once.
func LongPoll(d time.Duration) SubscribeOption {
	return func(o *subscribeOptions) { o.wait = d }
}

// BatchSize is the most events per handler call. Default 100; at most
// 1000.
func BatchSize(n int) SubscribeOption {
	return func(o *subscribeOptions) { o.limit = n }
}

// ReaderName names this reader of the subscription to the server. Default:
// a name unique to the Subscribe call (host-pid-random), so that two
// processes, or two Subscribe calls of one process, never read the same
// subscription at once.
func ReaderName(name string) SubscribeOption {
	return func(o *subscribeOptions) { o.reader = name }
}

// OnRetry is called each time Subscribe waits before trying again: err is
// why (an *Error with Status 503 or 429, a connection error, or one for
// which errors.Is(err, ErrSubscriptionBusy) holds while another reader
// holds the subscription), delay how long it waits. Use it to log.
func OnRetry(fn func(err error, delay time.Duration)) SubscribeOption {
	return func(o *subscribeOptions) { o.onRetry = fn }
}

const (
	defaultLongPoll  = 30 * time.Second
	defaultBatchSize = 100
	// While the server is unavailable or cannot be reached, Subscribe
	// tries again after minBackoff, doubled after each failure up to
	// maxBackoff, with jitter.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// busyDelay is the wait on subscription_busy when the server does not
	// say how long.
	busyDelay = time.Second
	// ackTimeout bounds the acknowledgement of a handled batch once ctx
	// has ended.
	ackTimeout = 5 * time.Second
	// fetchGrace is how much longer than its long poll a read may take
	// before it is given up as lost.
	fetchGrace = 15 * time.Second
)

// Subscribe runs handler over the subscription name until ctx ends (it
// returns ctx's error) or handler fails (it returns handler's error, the
// batch not acknowledged). The subscription must exist (PutSubscription).
//
// It fetches batches with long polls, calls handler with each batch that
// has events and, once handler returns nil, acknowledges the batch's
// Position with the request that fetches the next batch (AckAndFetch: one
// round trip per batch), or on its own when ctx ends; a batch without
// events whose Position is beyond the checkpoint (the filter skipped
// events) is acknowledged without calling handler.
//
// Delivery is at-least-once: a batch handled but not acknowledged (the
// process died, the acknowledgement failed, the handler failed) is
// delivered again, to this process or another. Handlers must be
// idempotent.
//
// One reader holds a subscription at a time. While another holds it,
// Subscribe waits as long as the server says (Retry-After) and tries
// again, so that a standby process running the same Subscribe takes over
// when the active one stops. While the server is unavailable (503, 429)
// or cannot be reached, or a read gets no answer within its long poll and
// 15s, it tries again with exponential backoff (100ms to 5s, with jitter;
// longer if the server's Retry-After says so). Other errors (an unknown
// subscription, a bad key) end it.
func (c *Client) Subscribe(ctx context.Context, name string, handler Handler, opts ...SubscribeOption) error {
	o := subscribeOptions{wait: defaultLongPoll, limit: defaultBatchSize}
	for _, opt := range opts {
		opt(&o)
	}
	if o.reader == "" {
		o.reader = readerName()
	}
	o.wait = min(o.wait, maxWait)
	r := retrier{onRetry: o.onRetry}
	defer func() {
		// Let a standby take over at once; if this fails, the lease
		// expires by itself.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
		defer cancel()
		_ = c.Release(rctx, name, o.reader)
	}()
	fo := FetchOptions{Limit: o.limit, Wait: o.wait, Reader: o.reader}
	// handled is the position of a batch handled and not yet known to be
	// acknowledged: the next read acknowledges it (AckAndFetch).
	var handled sluice.Position
	for {
		if err := ctx.Err(); err != nil {
			if handled > 0 {
				c.lastAck(ctx, name, o.reader, handled)
			}
			return err
		}
		b, err := c.fetch(ctx, name, handled, fo)
		if err != nil {
			if errors.Is(err, ErrSubscriptionBusy) {
				handled = 0 // another reader holds it: the batch goes there
			}
			if err := r.pause(ctx, err); err != nil && ctx.Err() == nil {
				return err
			}
			continue
		}
		handled = 0
		r.reset()
		if len(b.Events) > 0 {
			if err := handler(ctx, b.Events); err != nil {
				return err
			}
		}
		if b.Position > b.Checkpoint {
			handled = b.Position
		}
	}
}

// fetch acknowledges handled, if not 0, and reads the next batch, bounded
// by the long poll and fetchGrace: a connection that died without a word
// (a server gone with its host) is given up and tried again rather than
// waited on for ever.
func (c *Client) fetch(ctx context.Context, name string, handled sluice.Position, opts FetchOptions) (Batch, error) {
	fctx, cancel := context.WithTimeout(ctx, opts.Wait+fetchGrace)
	defer cancel()
	var b Batch
	var err error
	if handled > 0 {
		b, err = c.AckAndFetch(fctx, name, handled, opts)
	} else {
		b, err = c.Fetch(fctx, name, opts)
	}
	if err != nil && ctx.Err() == nil && fctx.Err() != nil {
		err = errNoAnswer
	}
	return b, err
}

// errNoAnswer: a Fetch got no answer within its long poll and fetchGrace.
var errNoAnswer = errors.New("sluice client: no answer to a subscription read within its long poll")

// lastAck acknowledges position for reader once ctx has ended: the
// handler has processed the batch, so ctx ending is no reason to drop its
// acknowledgement, which gets ackTimeout. If it fails, the batch is
// delivered again (to a reader that holds the subscription, if another
// does).
func (c *Client) lastAck(ctx context.Context, name, reader string, position sluice.Position) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	_, _ = c.Ack(actx, name, reader, position)
}

// retrier waits between attempts of Subscribe.
type retrier struct {
	failures int
	onRetry  func(err error, delay time.Duration)
}

func (r *retrier) reset() { r.failures = 0 }

// pause waits before the next attempt after err and returns nil, or
// returns the error that ends Subscribe: ctx's, or err when trying again
// would not help.
func (r *retrier) pause(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var delay time.Duration
	var apiErr *Error
	switch {
	case errors.Is(err, ErrSubscriptionBusy):
		delay = busyDelay
		if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
			delay = apiErr.RetryAfter
		}
	case errors.As(err, &apiErr):
		if !apiErr.retryable() {
			return err
		}
		delay = max(r.backoff(), apiErr.RetryAfter)
	case isConnectionError(err), errors.Is(err, errNoAnswer):
		delay = r.backoff()
	default:
		return err
	}
	if r.onRetry != nil {
		r.onRetry(err, delay)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the next delay after a failure: minBackoff doubled per
// failure up to maxBackoff, then a random part of its upper half taken off
// so that many readers do not come back at once.
func (r *retrier) backoff() time.Duration {
	d := maxBackoff
	if r.failures < 16 {
		d = min(minBackoff<<r.failures, maxBackoff)
	}
	r.failures++
	return d/2 + mathrand.N(d/2+1)
}

// isConnectionError reports whether err is the transport's: the server
// could not be reached, or the connection broke before the whole answer
// came.
func isConnectionError(err error) bool {
	var urlErr *url.Error
	var netErr net.Error
	return errors.As(err, &urlErr) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF)
}

// readerName is a reader name unique to one Subscribe call:
// host-pid-random.
func readerName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "sluice-client"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
	if len(name) > 128 {
		name = name[len(name)-128:]
	}
	return name
}
