package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	gonats "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

var _ sluice.Sink = (*Sink)(nil)

// The headers of every message besides Nats-Msg-Id (the event's id).
const (
	HeaderPosition = "Sluice-Position" // the event's position in the log
	HeaderVersion  = "Sluice-Version"  // its version in its stream
	HeaderType     = "Sluice-Type"
	HeaderStream   = "Sluice-Stream"
)

// Sink publishes records to JetStream.
type Sink struct {
	nc      *gonats.Conn
	js      jetstream.JetStream
	subject subject
	timeout time.Duration
	// window holds a token for each publish awaiting its acknowledgement:
	// taken before the publish, given back by the JetStream context's ack
	// or error handler (each publish gets one of them, its timeout
	// included) or when the publish fails at once, whichever comes first
	// (release).
	window  chan struct{}
	holding sync.Map // *gonats.Msg → its token not given back yet
	pubOpts []jetstream.PublishOpt
}

// errAckTimeout: the delivery's timeout passed before the record's
// acknowledgement came.
var errAckTimeout = errors.New("no acknowledgement within the timeout")

// Deliver publishes the records in order, at most MaxPending awaiting
// their acknowledgements at once, and waits for every acknowledgement.
func (s *Sink) Deliver(ctx context.Context, records []sluice.SinkRecord) error {
	if len(records) == 0 {
		return nil
	}
	if st := s.nc.Status(); st != gonats.CONNECTED {
		err := fmt.Errorf("nats: not connected (%s)", st)
		if last := s.nc.LastError(); last != nil {
			err = fmt.Errorf("%w: %w", err, last)
		}
		return err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout, fmt.Errorf("%w (%s)", errAckTimeout, s.timeout))
	defer cancel()
	errs := make([]error, len(records))
	futures := make([]jetstream.PubAckFuture, len(records))
	var stop error // once set, the later records are not sent
	for i := range records {
		if stop != nil {
			errs[i] = fmt.Errorf("not sent: %w", stop)
			continue
		}
		m := s.message(&records[i])
		select {
		case s.window <- struct{}{}:
			s.holding.Store(m, struct{}{})
		case <-ctx.Done():
			stop = context.Cause(ctx)
			errs[i] = fmt.Errorf("not sent: %w", stop)
			continue
		}
		f, err := s.js.PublishMsgAsync(m, s.pubOpts...)
		if err != nil {
			s.release(m)
			errs[i] = publishError(m, err)
			if !sluice.IsPermanent(errs[i]) {
				stop = errs[i] // the connection failed: the rest would too, out of order
			}
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f != nil {
			errs[i] = wait(ctx, f)
		}
	}
	return sink.Outcome("nats", errs)
}

// release gives back m's token in the window, once: a publish that fails
// as the connection drops gets an error from PublishMsgAsync and, from
// nats.go resetting its pending acknowledgements, the error handler too
// (two tokens given back for one froze Deliver: CI, TestSink_Deliver/Outage).
func (s *Sink) release(m *gonats.Msg) {
	if _, held := s.holding.LoadAndDelete(m); held {
		<-s.window
	}
}

// message is the record's message: its body, and its event's id and
// place in headers.
func (s *Sink) message(r *sluice.SinkRecord) *gonats.Msg {
	e := r.Event
	return &gonats.Msg{Subject: s.subject.render(e), Data: r.Body, Header: gonats.Header{
		jetstream.MsgIDHeader: {e.ID},
		HeaderPosition:        {strconv.FormatUint(uint64(e.Position), 10)},
		HeaderVersion:         {strconv.FormatUint(e.Version, 10)},
		HeaderType:            {e.Type},
		HeaderStream:          {e.Stream},
	}}
}

// wait returns the outcome of one publish: nil once acknowledged (a
// duplicate of a message the stream already holds included).
func wait(ctx context.Context, f jetstream.PubAckFuture) error {
	var err error
	select { // what has come is taken before the end of ctx
	case <-f.Ok():
		return nil
	case err = <-f.Err():
	default:
		select {
		case <-f.Ok():
			return nil
		case err = <-f.Err():
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return publishError(f.Msg(), err)
}

// The JetStream errors that no retry fixes: the message is larger than the
// stream takes, its headers are, or the stream is sealed. Every other one
// (storage full or failing, the cluster without a leader, too many
// requests, limits of the account) may pass.
var permanentCodes = map[jetstream.ErrorCode]bool{
	10054: true, // message size exceeds maximum allowed
	10097: true, // header size exceeds maximum allowed of 64k
	10109: true, // invalid operation on sealed stream
}

// publishError says what failed for m, Permanent when no retry can
// deliver it.
func publishError(m *gonats.Msg, err error) error {
	err = fmt.Errorf("publish to %s: %w", m.Subject, err)
	var api *jetstream.APIError
	switch {
	case errors.As(err, &api) && permanentCodes[api.ErrorCode],
		errors.Is(err, gonats.ErrMaxPayload): // larger than the server's max_payload
		return sluice.Permanent(err)
	}
	return err
}

// Close closes the connection.
func (s *Sink) Close() error {
	s.nc.Close()
	return nil
}
