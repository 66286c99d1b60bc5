package jetstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
)

// fetchSize is how many messages one fetch of a scan asks for.
const fetchSize = 256

// scan calls fn for the log's messages after position after (on subject
// alone when it is set), in order, until fn returns false or the messages
// stored when the scan began run out.
func (s *Store) scan(ctx context.Context, after sluice.Position, subject string, fn func(jetstream.Msg) (bool, error)) error {
	return scanStream(ctx, s.log, uint64(after), subject, fn)
}

// scanStream calls fn for the messages of st after sequence after (on
// subject alone when it is set), in order, until fn returns false or the
// messages stored when the scan began run out.
func scanStream(ctx context.Context, st jetstream.Stream, after uint64, subject string, fn func(jetstream.Msg) (bool, error)) error {
	cfg := scanConfig(subject)
	cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	return scanWith(ctx, st, cfg, fn)
}

// scanConfig is a scan's consumer: ephemeral, unacknowledged, in memory.
func scanConfig(subject string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		FilterSubject:     subject,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: time.Minute, // in case the delete is lost
	}
}

// scanWith calls fn for the messages that a consumer of configuration cfg
// counts at its creation, in order, until fn returns false. It reads on
// the stream's leader (leaderConsumer), so a scan sees every acknowledged
// write.
//
// A scan's consumer acknowledges nothing (AckNone): a message the server
// has sent counts as delivered. A no-wait fetch gives up on the client
// after a second, and what the server sends after that is dropped with
// its subscription; the next fetch would then go on after a hole (the
// FollowWhileWriting gap, D153). A scan therefore follows the consumer's
// delivery sequence, and when a message is missing it starts a new
// consumer after the last message fn has seen, skipping what fn had.
func scanWith(ctx context.Context, st jetstream.Stream, cfg jetstream.ConsumerConfig, fn func(jetstream.Msg) (bool, error)) error {
	var seen uint64 // the stream sequence of the last message given to fn
	for restarts := 0; ; restarts++ {
		if seen > 0 && cfg.DeliverPolicy == jetstream.DeliverByStartSequencePolicy {
			cfg.OptStartSeq = seen + 1
		}
		err := scanConsumer(ctx, st, cfg, func(m jetstream.Msg, seq uint64) (bool, error) {
			if seq <= seen {
				return true, nil // given to fn before the restart
			}
			seen = seq
			return fn(m)
		})
		if !errors.Is(err, errLostDelivery) {
			return err
		}
		if restarts == lostRestarts {
			return fmt.Errorf("scan: %d consumers lost messages in a row: %w", restarts+1, sluice.ErrUnavailable)
		}
	}
}

// errLostDelivery: the server sent a scan's consumer messages that never
// reached the scan.
var errLostDelivery = errors.New("scan: a message sent to the consumer was lost")

// lostRestarts bounds the consumers one scan starts again after losses.
const lostRestarts = 10

// scanConsumer reads the messages that a new consumer of configuration cfg
// counts at its creation, giving each to fn with its stream sequence, until
// fn returns false. It returns errLostDelivery when the consumer's delivery
// sequence shows a message that never came.
func scanConsumer(ctx context.Context, st jetstream.Stream, cfg jetstream.ConsumerConfig, fn func(jetstream.Msg, uint64) (bool, error)) error {
	c, err := leaderConsumer(ctx, st, cfg)
	if err != nil {
		return err
	}
	defer deleteConsumer(st, c.CachedInfo().Name)
	// The consumer's creation counts the messages to read; a no-wait fetch
	// can come back empty before a new consumer in a cluster has them.
	pending := c.CachedInfo().NumPending
	var delivered uint64 // the consumer sequence of the last message read
	for retries := 0; pending > 0; {
		batch, err := c.FetchNoWait(int(min(pending, fetchSize)))
		if err != nil {
			return err
		}
		got := uint64(0)
		for m := range batch.Messages() {
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			if meta.Sequence.Consumer != delivered+1 {
				return errLostDelivery
			}
			delivered = meta.Sequence.Consumer
			got++
			more, err := fn(m, meta.Sequence.Stream)
			if err != nil || !more {
				return err
			}
		}
		pending -= min(got, pending)
		err = batch.Error()
		if err != nil && !errors.Is(err, nats.ErrNoResponders) {
			return err
		}
		if got > 0 {
			continue
		}
		// Nothing came: the server sent what the fetch asked for too late,
		// or, in a cluster, a new consumer answers once its leader is
		// elected and has loaded its messages, a few milliseconds after it
		// is created.
		if info, ierr := c.Info(ctx); ierr == nil && info.Delivered.Consumer > delivered {
			return errLostDelivery
		}
		if retries++; retries > consumerReadyRetries {
			return fmt.Errorf("scan: consumer not ready: %w", cmp.Or(err, context.DeadlineExceeded))
		}
		select {
		case <-time.After(consumerReadyDelay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// A scan waits for its new consumer at most consumerReadyRetries times
// consumerReadyDelay.
const (
	consumerReadyRetries = 500
	consumerReadyDelay   = 10 * time.Millisecond
)

// placeAttempts bounds the consumers leaderConsumer creates: each lands on
// the leader with a chance of 1 in the stream's replicas (1/3 on R3), so
// 64 all miss with a chance of (2/3)^64, about 10^-11.
const placeAttempts = 64

// leaderConsumer creates an ephemeral R1 consumer of st on the server that
// leads st. JetStream places an R1 consumer on a random replica of its
// stream, and a consumer reads its replica's store: on a follower that
// lags, a scan would miss acknowledged writes and purges (QuarantineTrim
// listed purged events on R3). A consumer placed elsewhere is deleted and
// created again.
func leaderConsumer(ctx context.Context, st jetstream.Stream, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	for range placeAttempts {
		info, err := st.Info(ctx)
		if err != nil {
			return nil, err
		}
		if info.Cluster != nil && info.Cluster.Leader == "" {
			return nil, fmt.Errorf("scan: %s has no leader: %w", info.Config.Name, sluice.ErrUnavailable)
		}
		c, err := st.CreateConsumer(ctx, cfg)
		if err != nil {
			return nil, err
		}
		ci := c.CachedInfo()
		if info.Cluster == nil || ci.Cluster == nil || ci.Cluster.Leader == info.Cluster.Leader {
			return c, nil
		}
		if err := st.DeleteConsumer(ctx, ci.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("scan: no consumer placed on the leader of %s in %d attempts: %w", st.CachedInfo().Config.Name, placeAttempts, sluice.ErrUnavailable)
}

// deleteConsumer deletes a scan's consumer without holding up the scan.
func deleteConsumer(st jetstream.Stream, name string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = st.DeleteConsumer(ctx, name) // else its inactive threshold removes it
	}()
}

// msgEvent decodes a scanned message.
func msgEvent(m jetstream.Msg) (sluice.Event, error) {
	meta, err := m.Metadata()
	if err != nil {
		return sluice.Event{}, err
	}
	return decodeEvent(meta.Sequence.Stream, m.Headers(), m.Data())
}

// ReadLog returns up to limit events (at least 1) after position after that
// f keeps, in position order. The filter is applied here: a subject cannot
// select a stream prefix or a type.
func (s *Store) ReadLog(ctx context.Context, after sluice.Position, f sluice.Filter, limit int) ([]sluice.Event, error) {
	if err := s.checkOpen("read log"); err != nil {
		return nil, err
	}
	limit = max(limit, 1)
	var out []sluice.Event
	err := s.scan(ctx, after, "", func(m jetstream.Msg) (bool, error) {
		e, err := msgEvent(m)
		if err != nil {
			return false, err
		}
		if f.Match(&e) {
			out = append(out, e)
		}
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, s.fail("read log", err)
	}
	return out, nil
}

// ReadStream returns events of one stream, sluice.ErrStreamNotFound when it
// has none. Forward, it scans the stream's subject from its first event;
// backward, it walks from the last event along each event's link to the
// previous one.
func (s *Store) ReadStream(ctx context.Context, stream string, opts sluice.ReadStreamOptions) ([]sluice.Event, error) {
	if err := s.checkOpen("read stream"); err != nil {
		return nil, err
	}
	limit := max(opts.Limit, 1)
	l, err := s.streamLast(ctx, stream)
	if err != nil {
		return nil, s.fail("read stream", err)
	}
	if l.version == 0 {
		return nil, fmt.Errorf("read stream: stream %q: %w", stream, sluice.ErrStreamNotFound)
	}
	var out []sluice.Event
	if opts.Backward {
		out, err = s.readBackward(ctx, l, opts.FromVersion, limit)
	} else {
		out, err = s.readForward(ctx, stream, l, opts.FromVersion, limit)
	}
	if err != nil {
		return nil, s.fail("read stream", err)
	}
	return out, nil
}

func (s *Store) readForward(ctx context.Context, stream string, l last, from uint64, limit int) ([]sluice.Event, error) {
	out := []sluice.Event{}
	if from > l.version {
		return out, nil
	}
	err := s.scan(ctx, 0, s.subject(stream), func(m jetstream.Msg) (bool, error) {
		e, err := msgEvent(m)
		if err != nil {
			return false, err
		}
		if e.Version >= from {
			out = append(out, e)
		}
		return len(out) < limit && e.Position < l.position, nil
	})
	return out, err
}

func (s *Store) readBackward(ctx context.Context, l last, from uint64, limit int) ([]sluice.Event, error) {
	out := []sluice.Event{}
	for p := l.position; p > 0 && len(out) < limit; {
		m, err := s.log.GetMsg(ctx, uint64(p))
		if err != nil {
			return nil, err
		}
		e, err := decodeEvent(m.Sequence, m.Header, m.Data)
		if err != nil {
			return nil, err
		}
		if from == 0 || e.Version <= from {
			out = append(out, e)
		}
		if p, err = prevPosition(m.Header); err != nil {
			return nil, fmt.Errorf("position %d: %w", m.Sequence, err)
		}
	}
	return out, nil
}

// ListStreams returns up to limit streams (at least 1) whose names start
// with prefix and sort after the name after, in byte order of their names.
// The names come from the streams bucket (not from the stream's subject
// list, which JetStream cuts at 100,000), each one's version and last
// position from its last event.
func (s *Store) ListStreams(ctx context.Context, prefix, after string, limit int) ([]sluice.StreamInfo, error) {
	if err := s.checkOpen("list streams"); err != nil {
		return nil, err
	}
	names, err := listNames(ctx, s.kv.streams, prefix, after)
	if err != nil {
		return nil, s.fail("list streams", err)
	}
	limit = max(limit, 1)
	out := make([]sluice.StreamInfo, 0, min(limit, len(names)))
	for len(out) < limit && len(names) > 0 {
		page := names[:min(limit-len(out), len(names))]
		names = names[len(page):]
		lasts, err := s.lastOf(ctx, page)
		if err != nil {
			return nil, s.fail("list streams", err)
		}
		for _, name := range page {
			if l := lasts[name]; l.version > 0 { // a name whose events never came is skipped
				out = append(out, sluice.StreamInfo{Stream: name, Version: l.version, LastPosition: l.position})
			}
		}
	}
	return out, nil
}

// Head returns the highest committed position, from the stream's leader.
func (s *Store) Head(ctx context.Context) (sluice.Position, error) {
	if err := s.checkOpen("head"); err != nil {
		return 0, err
	}
	info, err := s.log.Info(ctx)
	if err != nil {
		return 0, s.fail("head", err)
	}
	s.notifier.Publish(sluice.Position(info.State.LastSeq))
	return sluice.Position(info.State.LastSeq), nil
}

// WaitHead blocks until the head is above after. It is woken by this
// store's commits and by the consumer that follows the log's head, which
// JetStream feeds with every process's commits.
func (s *Store) WaitHead(ctx context.Context, after sluice.Position) (sluice.Position, error) {
	if err := s.checkOpen("wait head"); err != nil {
		return 0, err
	}
	head, err := s.notifier.WaitOr(ctx, s.done, after) // Close wakes the waiters
	if err != nil {
		if err := s.checkOpen("wait head"); err != nil {
			return head, err
		}
		return head, fmt.Errorf("wait head: %w", err)
	}
	return head, nil
}
