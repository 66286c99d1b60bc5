package sluice

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// WriterOptions configure a Writer. Zero fields take their defaults.
type WriterOptions struct {
	// MaxQueueEvents bounds the events queued or in the commit in flight.
	// Default 100000.
	MaxQueueEvents int
	// MaxQueueBytes bounds their total Size. Default 64 MiB.
	MaxQueueBytes int
	// MaxQueueDelay bounds how long a request waits in the queue before
	// its commit starts: while the oldest queued request has waited longer,
	// Submit refuses with ErrQueueDelay (docs/decisions.md, D94). Default
	// DefaultMaxQueueDelay.
	MaxQueueDelay time.Duration
	// MaxCommitEvents bounds the events of one commit (a larger single
	// request is committed alone). Default 10000.
	MaxCommitEvents int
	// CommitTimeout bounds one commit. Default 30s.
	CommitTimeout time.Duration
	// Limits are checked when a request is submitted. Default DefaultLimits.
	Limits Limits
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.MaxQueueEvents <= 0 {
		o.MaxQueueEvents = 100_000
	}
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = 64 << 20
	}
	if o.MaxQueueDelay <= 0 {
		o.MaxQueueDelay = DefaultMaxQueueDelay
	}
	if o.MaxCommitEvents <= 0 {
		o.MaxCommitEvents = 10_000
	}
	if o.CommitTimeout <= 0 {
		o.CommitTimeout = 30 * time.Second
	}
	if o.Limits.MaxEventBytes <= 0 {
		o.Limits = DefaultLimits
	}
	return o
}

// DefaultMaxQueueDelay is the default WriterOptions.MaxQueueDelay.
const DefaultMaxQueueDelay = 100 * time.Millisecond

// Writer is the one writer of a process: it takes append requests from a
// bounded queue and commits them in groups. Whatever is queued while a
// commit is in flight goes into the next commit; there is no waiting window.
// When the queue is full, Submit fails at once with ErrQueueFull, so memory
// stays bounded whatever the load; when the oldest queued request has
// waited longer than MaxQueueDelay, Submit fails with ErrQueueDelay, so the
// requests it takes are committed soon whatever the machine.
type Writer struct {
	log  Log
	opts WriterOptions

	mu     sync.Mutex
	queue  []*Ticket
	events int // queued and in flight
	bytes  int // queued and in flight
	closed bool

	observe atomic.Pointer[func(CommitStats)]

	wake chan struct{} // a submit happened (capacity 1)
	stop chan struct{} // Close was called
	done chan struct{} // the commit loop has returned
}

// CommitStats describes one commit of the writer.
type CommitStats struct {
	Requests int
	Events   int
	Took     time.Duration
	Err      error
}

// Observe makes the writer call fn after every commit, from its commit
// loop (fn must be quick): metrics hang on it.
func (w *Writer) Observe(fn func(CommitStats)) { w.observe.Store(&fn) }

// Ticket follows one submitted request to its commit.
type Ticket struct {
	req     AppendRequest
	arrived time.Time // when Submit queued it
	events  int
	bytes   int
	done    chan struct{}
	result  AppendResult
	err     error
	timing  TicketTiming
}

// TicketTiming is how a committed request's time went, for tracing: it
// waited in the queue from Queued to Started, when the group commit that
// took it began, and that commit is described by Commit.
type TicketTiming struct {
	Queued  time.Time
	Started time.Time
	Commit  CommitStats
}

// NewWriter starts a writer that commits to log. Close it to commit what is
// queued and stop.
func NewWriter(log Log, opts WriterOptions) *Writer {
	w := &Writer{
		log:  log,
		opts: opts.withDefaults(),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go w.loop()
	return w
}

// Submit checks req (filling in ids and streams, see Limits.Prepare) and
// queues it. It never blocks: a full queue is ErrQueueFull, a queue whose
// oldest request has waited longer than MaxQueueDelay ErrQueueDelay, a
// closed writer ErrClosed, an invalid event an *EventError.
func (w *Writer) Submit(req AppendRequest) (*Ticket, error) {
	reqs := []AppendRequest{req}
	if err := w.opts.Limits.Prepare(reqs); err != nil {
		return nil, err
	}
	t := &Ticket{req: reqs[0], events: len(req.Events), done: make(chan struct{})}
	for i := range req.Events {
		t.bytes += req.Events[i].Size()
	}

	w.mu.Lock()
	t.arrived = time.Now()
	switch {
	case w.closed:
		w.mu.Unlock()
		return nil, ErrClosed
	case w.events > 0 && (w.events+t.events > w.opts.MaxQueueEvents || w.bytes+t.bytes > w.opts.MaxQueueBytes):
		// An empty queue takes any one request, so that a request within
		// the per-request limits can always be served.
		w.mu.Unlock()
		return nil, ErrQueueFull
	case len(w.queue) > 0 && t.arrived.Sub(w.queue[0].arrived) > w.opts.MaxQueueDelay:
		// The sojourn of the queue's head (CoDel's signal): each commit
		// takes the whole queue, so a head this old means the commit in
		// flight has outlasted the target, and a request queued now
		// would wait longer still.
		w.mu.Unlock()
		return nil, ErrQueueDelay
	}
	w.queue = append(w.queue, t)
	w.events += t.events
	w.bytes += t.bytes
	w.mu.Unlock()

	select {
	case w.wake <- struct{}{}:
	default:
	}
	return t, nil
}

// Append submits req and waits for its commit.
func (w *Writer) Append(ctx context.Context, req AppendRequest) (AppendResult, error) {
	t, err := w.Submit(req)
	if err != nil {
		return AppendResult{}, err
	}
	return t.Wait(ctx)
}

// Depth returns the events and bytes queued or in the commit in flight.
func (w *Writer) Depth() (events, bytes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.events, w.bytes
}

// Close stops taking requests, commits everything queued and waits for the
// commit loop to finish, or for ctx.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.stop)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close writer: %w", ctx.Err())
	}
}

// Wait blocks until the request is committed (or failed) or ctx is done.
// A request whose wait is cancelled may still be committed.
func (t *Ticket) Wait(ctx context.Context) (AppendResult, error) {
	select {
	case <-t.done:
		return t.result, t.err
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
}

// Done is closed when the request is committed or has failed.
func (t *Ticket) Done() <-chan struct{} { return t.done }

// Timing is how the request's time went; valid once Done is closed.
func (t *Ticket) Timing() TicketTiming { return t.timing }

func (w *Writer) loop() {
	defer close(w.done)
	for {
		for batch := w.take(); len(batch) > 0; batch = w.take() {
			w.commit(batch)
		}
		select {
		case <-w.wake:
		case <-w.stop:
			for batch := w.take(); len(batch) > 0; batch = w.take() {
				w.commit(batch)
			}
			return
		}
	}
}

// take removes the next group from the queue: everything queued, up to
// MaxCommitEvents (and at least one request).
func (w *Writer) take() []*Ticket {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, events := 0, 0
	for n < len(w.queue) && (n == 0 || events+w.queue[n].events <= w.opts.MaxCommitEvents) {
		events += w.queue[n].events
		n++
	}
	batch := make([]*Ticket, n)
	copy(batch, w.queue)
	w.queue = w.queue[n:]
	if len(w.queue) == 0 {
		w.queue = nil // let the backing array go
	}
	return batch
}

func (w *Writer) commit(batch []*Ticket) {
	reqs := make([]AppendRequest, len(batch))
	for i, t := range batch {
		reqs[i] = t.req
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.CommitTimeout)
	start := time.Now()
	results, err := w.log.Append(ctx, reqs)
	took := time.Since(start)
	cancel()

	events, bytes := 0, 0
	for _, t := range batch {
		events += t.events
		bytes += t.bytes
	}
	w.mu.Lock() // out of the depth, and observed, before anyone hears of the commit
	w.events -= events
	w.bytes -= bytes
	w.mu.Unlock()
	stats := CommitStats{Requests: len(batch), Events: events, Took: took, Err: err}
	if fn := w.observe.Load(); fn != nil {
		(*fn)(stats)
	}
	for i, t := range batch {
		t.timing = TicketTiming{Queued: t.arrived, Started: start, Commit: stats}
		if err != nil {
			t.err = err
		} else {
			t.result = results[i]
			t.err = results[i].Err
		}
		t.req = AppendRequest{} // the events are stored; free them
		close(t.done)
	}
}
