package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
)

// record is an event read and not yet delivered or dead-lettered.
type record struct {
	ev     sluice.Event
	body   []byte
	readAt time.Time
	// attempts counts the deliveries tried; first is when the first was.
	attempts int
	first    time.Time
	err      error // the last attempt's
	// retry is the group the record is sent again with, nil while it has
	// not failed.
	retry *retry
}

// retry is records that failed together and are sent again together,
// alone in their batch: a destination that deduplicates batches (a
// webhook's id) sees the same batch again.
type retry struct {
	at time.Time // not before
}

// pipeline delivers the log after a checkpoint: the live delivery of a
// sink, or a replay up to a position.
type pipeline struct {
	r *Runner
	// name is the checkpoint's name; checkpoint is its stored value.
	name       string
	checkpoint sluice.Position
	cursor     *consumer.Cursor
	// through is the last position a replay delivers; 0 for live.
	through sluice.Position
	replay  string // the replay's id; "" for live
	// pending are the records read and not done, in position order;
	// bytes counts their bodies.
	pending []*record
	bytes   int
	// page is how many events the cursor reads at a time.
	page int
	// caughtUp: the cursor's last read reached the head.
	caughtUp bool
}

// maxPage bounds the events the cursor reads at a time: a destination
// whose batches are large (an archive's object) reads them in pages, so
// that a read never goes far past the window.
const maxPage = 1000

func (r *Runner) newPipeline(name string, checkpoint sluice.Position) *pipeline {
	page := min(r.cfg.Batch.MaxEvents, maxPage)
	cur := consumer.NewCursor(r.store, checkpoint, r.filter, page)
	// A sink cannot answer 410: behind the log's first position it goes on
	// from there, and says so (an archive sink never is: retention waits
	// for it).
	cur.SkipGone(func(n uint64) {
		r.counts.skipped.Add(n)
		r.log.Warn("sink: retention removed events it had not delivered; going on from the log's first position", "skipped", n, "from", cur.Position()+1)
	})
	return &pipeline{r: r, name: name, checkpoint: checkpoint, page: page, cursor: cur}
}

// roomy reports whether the pipeline may read more: it holds up to two
// batches, so that the records of other streams keep flowing while one
// stream waits for a retry, but never more than maxReadAhead bytes past
// one batch.
func (p *pipeline) roomy() bool {
	b := p.r.cfg.Batch
	return len(p.pending) < 2*b.MaxEvents && p.bytes < b.MaxBytes+min(b.MaxBytes, maxReadAhead)
}

// maxReadAhead bounds the bytes a pipeline reads past one batch: for
// batches of megabytes (an archive's objects of 64 MiB) a second batch
// held would double the sink's memory and buys nothing (D56).
const maxReadAhead = 8 << 20

// done reports whether a replay has delivered everything up to through.
func (p *pipeline) done() bool { return p.through > 0 && p.watermark() >= p.through }

// step reads what there is room for, then delivers one batch if one is
// ready. It returns when the next step is due: now when it delivered,
// later when every record waits (for a retry, the linger or the breaker),
// the zero time when it has nothing to do until the next commit.
func (p *pipeline) step(ctx context.Context) (time.Time, error) {
	if err := p.fill(ctx); err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	batch, wake := p.pick(now)
	if len(batch) == 0 {
		return wake, nil
	}
	if err := p.deliver(ctx, batch); err != nil {
		return time.Time{}, err
	}
	return time.Now(), p.save(ctx)
}

// fill reads events while there is room, turning each into a record (or
// dropping it, or dead-lettering one that can never be delivered).
func (p *pipeline) fill(ctx context.Context) error {
	var dead []*record
	for p.roomy() && !p.done() {
		evs, err := p.cursor.Read(ctx)
		if err != nil {
			return fmt.Errorf("sink %q: read the log: %w", p.r.cfg.Name, err)
		}
		p.caughtUp = len(evs) < p.page
		now := time.Now()
		for i := range evs {
			ev := &evs[i]
			if p.through > 0 && ev.Position > p.through {
				break
			}
			switch rec := p.r.record(ctx, ev, now); {
			case rec == nil: // dropped by the transform
			case rec.err != nil:
				dead = append(dead, rec)
			default:
				p.pending = append(p.pending, rec)
				p.bytes += len(rec.body)
			}
		}
		if p.caughtUp {
			break
		}
	}
	return p.bury(ctx, dead)
}

// pick returns the next batch to deliver: a retry whose time has come,
// alone; otherwise the records not yet tried, in position order, but for
// those of a stream that has a record waiting for a retry. With nothing to
// send it returns when something will be: the earliest retry, or the end
// of the linger of a batch that is not full.
func (p *pipeline) pick(now time.Time) (batch []*record, wake time.Time) {
	b := p.r.cfg.Batch
	var due *retry
	for _, rec := range p.pending {
		if rec.retry == nil {
			continue
		}
		if !rec.retry.at.After(now) {
			due = rec.retry
			break
		}
		if wake.IsZero() || rec.retry.at.Before(wake) {
			wake = rec.retry.at
		}
	}
	if open := p.r.reopensAt(); !open.IsZero() {
		return nil, open // the breaker is open: nothing goes out before its probe
	}
	if due != nil {
		for _, rec := range p.pending {
			if rec.retry == due {
				batch = append(batch, rec)
			}
		}
		return batch, time.Time{}
	}
	held := map[string]bool{}
	size := 0
	for _, rec := range p.pending {
		if rec.retry != nil {
			held[rec.ev.Stream] = true
			continue
		}
		if held[rec.ev.Stream] {
			continue
		}
		if len(batch) > 0 && (len(batch) == b.MaxEvents || size+len(rec.body) > b.MaxBytes) {
			return batch, time.Time{} // full
		}
		batch = append(batch, rec)
		size += len(rec.body)
	}
	if len(batch) == 0 {
		return nil, wake
	}
	// Not full: wait for the linger, unless more records cannot come now
	// (the window is full, or a replay has read all it will).
	if linger := batch[0].readAt.Add(b.Linger); b.Linger > 0 && now.Before(linger) && p.roomy() && !p.done() {
		if wake.IsZero() || linger.Before(wake) {
			wake = linger
		}
		return nil, wake
	}
	return batch, time.Time{}
}

// deliver sends the batch through the breaker and settles each record:
// delivered, to be retried, or dead.
func (p *pipeline) deliver(ctx context.Context, batch []*record) error {
	r := p.r
	recs := make([]sluice.SinkRecord, len(batch))
	for i, rec := range batch {
		recs[i] = sluice.SinkRecord{Event: &rec.ev, Body: rec.body}
		if rec.attempts > 0 {
			r.counts.retried.Add(1)
		}
	}
	start := time.Now()
	err := r.send(ctx, recs, "deliver")
	r.counts.batches.Add(1)
	r.batchSizes.observe(float64(len(batch)))
	now := time.Now()
	var partial *sluice.DeliveryError
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err() // not an attempt: the batch goes again after the restart or takeover
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return nil // not sent: the breaker opened meanwhile; pick waits for its probe
	case errors.Is(err, sluice.ErrSinkDisabled):
		r.failed(err, now)
		return r.disable(ctx, err)
	case err == nil:
		p.settle(ctx, batch, nil, start, now)
	case errors.As(err, &partial):
		failed := make(map[int]error, len(partial.Failed))
		for _, f := range partial.Failed {
			if f.Index >= 0 && f.Index < len(batch) {
				failed[f.Index] = f.Err
			}
		}
		p.settle(ctx, batch, failed, start, now)
	default:
		failed := make(map[int]error, len(batch))
		for i := range batch {
			failed[i] = err
		}
		p.settle(ctx, batch, failed, start, now)
	}
	return p.bury(ctx, p.takeDead())
}

// settle records the outcome of a delivery: the records not in failed were
// delivered; a failed one is dead when its error is permanent or its
// budget spent, else it is retried, together with the records of its
// stream that came after it in the batch (delivered or not), so that each
// stream's last deliveries are in log order.
func (p *pipeline) settle(_ context.Context, batch []*record, failed map[int]error, start, now time.Time) {
	r := p.r
	next := &retry{}
	var wait time.Duration
	resend := map[string]bool{}
	for i, rec := range batch {
		err, isFailed := failed[i]
		if isFailed && err == nil {
			err = errors.New("failed, with no reason given")
		}
		if !isFailed {
			r.counts.delivered.Add(1)
			if p.through == 0 {
				r.latency.observe(now.Sub(rec.ev.RecordedAt).Seconds())
			}
			if resend[rec.ev.Stream] {
				rec.retry = next // delivered after a failed record of its stream: again after it
			} else {
				rec.retry, rec.err = nil, nil
				rec.attempts = -1 // done
			}
			continue
		}
		r.counts.failed.Add(1)
		r.failed(err, now)
		rec.attempts++
		if rec.first.IsZero() {
			rec.first = start
		}
		rec.err = err
		if sluice.IsPermanent(err) || rec.attempts >= r.cfg.Retry.MaxAttempts && now.Sub(rec.first) >= r.cfg.Retry.MaxAge {
			rec.retry = nil // dead: takeDead collects it
			continue
		}
		rec.retry = next
		resend[rec.ev.Stream] = true
		wait = max(wait, r.backoff(rec.attempts), sluice.RetryAfterOf(err))
	}
	next.at = now.Add(wait)
	p.pending = slices.DeleteFunc(p.pending, func(rec *record) bool {
		if rec.attempts == -1 {
			p.bytes -= len(rec.body)
			return true
		}
		return false
	})
}

// takeDead removes the records that failed for good from pending.
func (p *pipeline) takeDead() []*record {
	var dead []*record
	p.pending = slices.DeleteFunc(p.pending, func(rec *record) bool {
		if rec.err != nil && rec.retry == nil {
			dead = append(dead, rec)
			p.bytes -= len(rec.body)
			return true
		}
		return false
	})
	return dead
}

// bury stores the records as dead letters of the sink.
func (p *pipeline) bury(ctx context.Context, dead []*record) error {
	if len(dead) == 0 {
		return nil
	}
	r := p.r
	ds := make([]sluice.DeadLetter, len(dead))
	for i, rec := range dead {
		first := rec.first
		if first.IsZero() {
			first = rec.readAt
		}
		ds[i] = sluice.DeadLetter{Sink: r.cfg.Name, Event: rec.ev, Attempts: rec.attempts, Error: rec.err.Error(), FirstAttemptAt: first}
	}
	if err := r.store.AddDeadLetters(context.WithoutCancel(ctx), ds); err != nil {
		// The records are not checkpointed: the next term reads them
		// again (with a new budget).
		return fmt.Errorf("sink %q: store dead letters: %w", r.cfg.Name, err)
	}
	r.counts.deadLettered.Add(uint64(len(ds)))
	r.log.Warn("sink: records dead-lettered", "count", len(ds), "first_position", ds[0].Event.Position, "err", ds[len(ds)-1].Error)
	return nil
}

// watermark is how far the pipeline has delivered: every event up to it
// was delivered, dead-lettered, dropped or skipped by the filter.
func (p *pipeline) watermark() sluice.Position {
	wm := p.cursor.Position()
	if len(p.pending) > 0 {
		wm = p.pending[0].ev.Position - 1
	}
	if p.through > 0 {
		wm = min(wm, p.through)
	}
	return wm
}

// save moves the checkpoint to the watermark, even when ctx has ended (a
// shutdown): what was delivered is not delivered again. A checkpoint moved
// by someone else means another process runs the sink now.
func (p *pipeline) save(ctx context.Context) error {
	wm := p.watermark()
	if wm <= p.checkpoint {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := p.r.store.SetCheckpoint(sctx, p.name, p.checkpoint, wm)
	switch {
	case errors.Is(err, sluice.ErrCheckpointConflict):
		return fmt.Errorf("sink %q: checkpoint %s: %w", p.r.cfg.Name, p.name, consumer.ErrLeaseLost)
	case err != nil:
		return fmt.Errorf("sink %q: checkpoint: %w", p.r.cfg.Name, err)
	}
	p.checkpoint = wm
	return nil
}

// retriesNow makes every waiting retry due (the sink was resumed).
func (p *pipeline) retriesNow() {
	for _, rec := range p.pending {
		if rec.retry != nil {
			rec.retry.at = time.Time{}
		}
	}
}

// backingOff reports whether records wait for a retry.
func (p *pipeline) backingOff() bool {
	for _, rec := range p.pending {
		if rec.retry != nil && rec.attempts > 0 {
			return true
		}
	}
	return false
}

// backoff is the wait before a record's next attempt after its attempts:
// a random wait up to InitialBackoff × 2^(attempts-1), bounded by
// MaxBackoff (full jitter).
func (r *Runner) backoff(attempts int) time.Duration {
	bound := r.cfg.Retry.InitialBackoff << min(attempts-1, 30)
	if bound <= 0 || bound > r.cfg.Retry.MaxBackoff {
		bound = r.cfg.Retry.MaxBackoff
	}
	return rand.N(bound + 1)
}
