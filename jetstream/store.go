package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
)

// DefaultName names the log's stream and buckets unless Options.Name names
// others.
const DefaultName = "sluice"

// DefaultDuplicateWindow is how long JetStream itself remembers an event id
// (Nats-Msg-Id), as long as Segment's deduplication.
const DefaultDuplicateWindow = 24 * time.Hour

// DefaultPublishWindow is how many atomic batches of one Append may be in
// flight at once.
const DefaultPublishWindow = 4

// maxPublishWindow is nats-server's default limit of atomic batches in
// flight on one stream (max_batch_inflight_per_stream).
const maxPublishWindow = 50

// Options configure Open.
type Options struct {
	// URL is the NATS server, or several comma separated for a cluster
	// (nats://a:4222,nats://b:4222). Required.
	URL string
	// Name prefixes the log's stream (<Name>_log, subjects <Name>.log.*)
	// and KV buckets (<Name>_checkpoints, …), so that several logs share
	// one JetStream account: 1 to 32 of A-Z a-z 0-9 _ -. Default "sluice".
	Name string
	// Replicas is the replica count of the stream and the buckets when Open
	// creates them (1 to 5). Default 3 when the cluster has 3 servers or
	// more, else 1.
	Replicas int
	// DuplicateWindow is how long JetStream remembers an event id on its
	// own; the id index covers the rest of the history (see doc.go).
	// Default 24h.
	DuplicateWindow time.Duration
	// PublishWindow bounds the atomic batches of one Append in flight at
	// once (1 to 50, the server's default limit of batches in flight per
	// stream): a group commit larger than one batch publishes its batches
	// without waiting for each other's answers. Default 4.
	PublishWindow int
	// NATS are connection options: credentials (nats.UserCredentials,
	// nats.UserInfo, nats.Token), TLS (nats.RootCAs, nats.ClientCert), …
	// Default none.
	NATS []nats.Option
	// Limits bound the events that Append accepts. Default
	// sluice.DefaultLimits.
	Limits sluice.Limits
	// Logger receives what the store cannot return as an error. Default
	// slog.Default().
	Logger *slog.Logger
}

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = DefaultDuplicateWindow
	}
	if o.PublishWindow == 0 {
		o.PublishWindow = DefaultPublishWindow
	}
	if o.Limits.MaxEventBytes <= 0 {
		o.Limits = sluice.DefaultLimits
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// OptionError is one problem of Options: the field and what is wrong.
type OptionError struct {
	Field  string
	Reason string
}

func (e *OptionError) Error() string { return e.Field + ": " + e.Reason }

// Validate returns every problem of the options at once, each an
// *OptionError.
func (o Options) Validate() error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, &OptionError{"url", "is required"})
	}
	if o.Name != "" && !validName.MatchString(o.Name) {
		errs = append(errs, &OptionError{"name", "must be 1 to 32 of A-Z a-z 0-9 _ -"})
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		errs = append(errs, &OptionError{"replicas", fmt.Sprintf("is %d, must be 1 to 5", o.Replicas)})
	}
	if o.DuplicateWindow < 0 {
		errs = append(errs, &OptionError{"duplicate_window", "must not be negative"})
	}
	if o.PublishWindow < 0 || o.PublishWindow > maxPublishWindow {
		errs = append(errs, &OptionError{"publish_window", fmt.Sprintf("is %d, must be 1 to %d", o.PublishWindow, maxPublishWindow)})
	}
	return errors.Join(errs...)
}

// Store is a sluice.Store on JetStream. It is safe for concurrent use, and
// any number of Stores, in any number of processes, may share one log.
type Store struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	log jetstream.Stream
	// quarantine and dead hold quarantined events and dead letters.
	quarantine, dead jetstream.Stream
	name             string // Options.Name
	prefix           string // of the log's subjects: "<Name>.log."
	limits           sluice.Limits
	logger           *slog.Logger
	window           int // Options.PublishWindow

	kv buckets

	// commit serializes this process's commits: they would only race each
	// other for the log's last sequence. known, answers, batchSeq and
	// early are used under it.
	commit   sync.Mutex
	known    known
	inbox    string               // answers come to <inbox>.<batch number>
	answers  *nats.Subscription   // on <inbox>.*
	batchSeq uint64               // numbers the batches
	early    map[uint64]*nats.Msg // answers come before their turn
	indexer  *indexer

	notifier sluice.HeadNotifier

	closed    atomic.Bool
	closeOnce sync.Once
	done      context.Context // done once Close is called
	stop      context.CancelFunc
	follow    jetstream.ConsumeContext // publishes the head to notifier
}

var _ sluice.Store = (*Store)(nil)

// Open connects, creates the log's stream and buckets when they are
// missing, and starts following the log's head.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	nopts := append([]nats.Option{nats.Name("sluice"), nats.MaxReconnects(-1)}, opts.NATS...)
	nc, err := nats.Connect(opts.URL, nopts...)
	if err != nil {
		return nil, fmt.Errorf("open jetstream: %w: %w", sluice.ErrUnavailable, err)
	}
	s := &Store{nc: nc, name: opts.Name, prefix: opts.Name + ".log.", limits: opts.Limits, logger: opts.Logger,
		early: map[uint64]*nats.Msg{}, window: opts.PublishWindow}
	s.done, s.stop = context.WithCancel(context.Background())
	s.indexer = newIndexer(s)
	if err := s.start(ctx, opts); err != nil {
		s.stop()
		nc.Close()
		return nil, fmt.Errorf("open jetstream: %w", err)
	}
	return s, nil
}

// setupTimeout bounds each creation of Open's stream and buckets unless
// ctx ends sooner. A replicated stream exists once its Raft group has
// elected a leader: a new group's first campaign is immediate, but one
// lost on a busy machine waits the election timeout of nats-server's Raft
// (4 to 9 s), past nats.go's default request timeout of 5 s (storetest on
// R3 failed Open so on a loaded machine).
const setupTimeout = 30 * time.Second

// publishAckTimeout bounds the wait for the answer to an asynchronous
// publish (the id index's entries, quarantined events, dead letters):
// nats.go waits forever by default, so an answer lost with a leader that
// died would hold the indexer, whose context is the store's, and every
// commit behind its backlog, until Close; it would also stay counted in
// nats.go's 4,000 pending publishes.
const publishAckTimeout = 5 * time.Second

// errCodeNoPeers is nats-server's "no suitable peers for placement"
// (JSClusterNoPeersErr), which it also answers while it counts a peer
// offline.
const errCodeNoPeers = 10005

// placing calls create again while JetStream cannot place a replicated
// group (errCodeNoPeers): a cluster still forming, or a server that missed
// its heartbeats on a busy machine, is back within seconds (seen once in
// the R3 tests under -race). It gives up when ctx ends (setupTimeout).
func placing[T any](ctx context.Context, create func() (T, error)) (T, error) {
	for {
		v, err := create()
		var apiErr *jetstream.APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeNoPeers {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (s *Store) start(ctx context.Context, opts Options) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	js, err := jetstream.New(s.nc, jetstream.WithPublishAsyncTimeout(publishAckTimeout))
	if err != nil {
		return err
	}
	s.js = js
	s.inbox = nats.NewInbox()
	if s.answers, err = s.nc.SubscribeSync(s.inbox + ".*"); err != nil {
		return err
	}
	replicas := opts.Replicas
	if replicas == 0 {
		replicas = 1
		if len(s.nc.Servers()) >= 3 {
			replicas = 3
		}
	}
	s.log, err = placing(ctx, func() (jetstream.Stream, error) {
		return js.CreateOrUpdateStream(ctx, logConfig(s.name, s.prefix, replicas, opts.DuplicateWindow))
	})
	if err != nil {
		return fmt.Errorf("log stream: %w", err)
	}
	if err := s.kv.open(ctx, js, s.name, replicas); err != nil {
		return err
	}
	if err := s.recordStreams(ctx, replicas); err != nil {
		return err
	}
	return s.followHead(ctx)
}

// logConfig is the configuration of the log's stream.
func logConfig(name, prefix string, replicas int, dupWindow time.Duration) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name + "_log",
		Description: "sluice's event log: the sequence is the position",
		Subjects:    []string{prefix + "*"},
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		// No limits, no deletes, no purges: the sequence never has a hole.
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		Discard:            jetstream.DiscardNew,
		DenyDelete:         true,
		DenyPurge:          true,
		Duplicates:         dupWindow,
		AllowAtomicPublish: true,
	}
}

// followHead publishes the log's head to the notifier: now, and at every
// commit of any process, from an ordered consumer that delivers only the
// headers of the messages after the head read now (not DeliverNew: a
// commit between the read and the consumer's creation would wake no one).
func (s *Store) followHead(ctx context.Context) error {
	info, err := s.log.Info(ctx)
	if err != nil {
		return fmt.Errorf("log stream: %w", err)
	}
	s.notifier.Publish(sluice.Position(info.State.LastSeq))
	c, err := s.log.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   info.State.LastSeq + 1,
		HeadersOnly:   true,
	})
	if err != nil {
		return fmt.Errorf("follow head: %w", err)
	}
	s.follow, err = c.Consume(func(m jetstream.Msg) {
		if meta, err := m.Metadata(); err == nil {
			s.notifier.Publish(sluice.Position(meta.Sequence.Stream))
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !s.closed.Load() {
			s.logger.Warn("jetstream: following the log head", "err", err)
		}
	}))
	if err != nil {
		return fmt.Errorf("follow head: %w", err)
	}
	return nil
}

// Close stops following the head and closes the connection. Calls after
// it, and waits in WaitHead and WaitCheckpoint, return sluice.ErrClosed;
// Close may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		if err := s.indexer.flush(ctx); err != nil {
			s.logger.Warn("jetstream: closing with event ids not indexed yet; the next lookup indexes them", "err", err)
		}
		cancel()
		s.stop()
		if s.follow != nil {
			s.follow.Stop()
		}
		s.nc.Close()
	})
	return nil
}

// checkOpen returns sluice.ErrClosed, wrapped in op, once the store is
// closed.
func (s *Store) checkOpen(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", op, sluice.ErrClosed)
	}
	return nil
}

// fail wraps err in op, and marks it sluice.ErrClosed when the store was
// closed under the call, sluice.ErrUnavailable when JetStream could not be
// reached or could not do the work (no leader, a timeout of the server).
func (s *Store) fail(op string, err error) error {
	switch {
	case s.closed.Load():
		return fmt.Errorf("%s: %w: %w", op, sluice.ErrClosed, err)
	case unavailable(err):
		return fmt.Errorf("%s: %w: %w", op, sluice.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports whether err is JetStream's or the connection's
// failure rather than the request's: worth retrying later.
func unavailable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503 || apiErr.Code == 429 || apiErr.Code >= 500
	}
	if errors.Is(err, context.Canceled) {
		return false // the caller's
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // a bound of the store's own (appendTimeout) or the caller's: try again later
	}
	return errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}
