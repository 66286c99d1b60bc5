package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/sluicehq/sluice"
)

// MaxRequestEvents is the most events of one AppendRequest: a request is
// stored atomically, as one JetStream atomic batch, and JetStream takes at
// most 1,000 messages in one (its max_batch_size default).
const MaxRequestEvents = 1000

// JetStream's error codes (err_code) that Append handles.
const (
	errCodeWrongLastSequence   = 10071 // wrong last sequence: {seq}
	errCodeWrongLastSeqConst   = 10164 // wrong last sequence (a subject already in process)
	errCodeBatchDuplicateMsgID = 10201 // atomic publish batch contains duplicate message id
)

var (
	// errConflict: another commit came first; plan again.
	errConflict = errors.New("the log moved meanwhile")
	// errDuplicateID: JetStream knows an id the plan took for new; plan
	// again with every id looked up.
	errDuplicateID = errors.New("an event id is already in the log")
)

// Append plans the requests with sluice.CommitPlan and publishes the new
// events as atomic batches of whole requests (at most MaxRequestEvents
// messages each). The first message of a batch expects the log's last
// sequence to be the one the batch was planned on, and the first of each
// stream expects that stream's last sequence, so a batch commits only on
// the state it was planned on; when another process came first, Append
// plans the remaining requests again.
//
// Plans are made on what this process knows from its own commits (known,
// D166), and a call larger than one batch keeps up to
// Options.PublishWindow batches in flight, each planned as if those before
// it were stored: the batches of one group commit go out without waiting
// for each other's answers (D168).
//
// Like the PostgreSQL store, it looks up only the ids of stream requests
// (whose duplicates make a retry); a duplicate of an ingest event within
// the duplicate window fails its batch (Nats-Msg-Id), and the batch is
// planned again with every id looked up in the id index.
func (s *Store) Append(ctx context.Context, reqs []sluice.AppendRequest) ([]sluice.AppendResult, error) {
	if err := s.checkOpen("append"); err != nil {
		return nil, err
	}
	if err := s.limits.Prepare(reqs); err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if len(r.Events) > MaxRequestEvents {
			return nil, &sluice.EventError{Index: MaxRequestEvents, Field: "events",
				Reason: fmt.Sprintf("a request of %d events: JetStream stores at most %d in one atomic append", len(r.Events), MaxRequestEvents)}
		}
	}
	s.commit.Lock()
	defer s.commit.Unlock()
	ctx, cancel := context.WithTimeout(ctx, appendTimeout)
	defer cancel()
	results := make([]sluice.AppendResult, len(reqs))
	todo := make([]int, len(reqs)) // the requests not stored yet
	for i := range todo {
		todo[i] = i
	}
	allIDs := false
	for len(todo) > 0 {
		left, err := s.commitAll(ctx, reqs, todo, allIDs, results)
		switch {
		case err == nil:
		case errors.Is(err, errConflict):
			allIDs = false
		case errors.Is(err, errDuplicateID) && !allIDs:
			allIDs = true
		default:
			return nil, s.fail("append", err)
		}
		todo = left
		if err := ctx.Err(); err != nil {
			return nil, s.fail("append", err)
		}
	}
	return results, nil
}

// batch is one atomic batch published and not answered yet.
type batch struct {
	reqs     []int // indexes into Append's requests
	plan     *sluice.CommitPlan
	base     sluice.Position // the head it was planned on
	seq      uint64          // its number on Store.answers
	deadline time.Time       // for its answer
}

// commitAll stores the requests todo (indexes into reqs) in batches, with
// up to Options.PublishWindow of them in flight, and writes their results.
// It returns the requests it did not store, with errConflict,
// errDuplicateID or another error that stopped it; on any error what is
// known is forgotten.
//
// A batch is published only once no batch in flight writes one of its
// streams: JetStream refuses a check of a subject's last sequence while a
// message of that subject is proposed and not applied (err_code 10164),
// and without that check a batch planned on an earlier one could commit
// after the earlier one failed, should another process have written
// exactly as many messages meanwhile (D168). Stream requests and a round
// with every id looked up wait for all batches in flight: their lookups
// read the log up to the head they are planned on.
func (s *Store) commitAll(ctx context.Context, reqs []sluice.AppendRequest, todo []int, allIDs bool, results []sluice.AppendResult) ([]int, error) {
	clear(s.early) // answers to an earlier call's batches given up on
	var flight []*batch
	var left []int
	var stop error
	settle := func() {
		b := flight[0]
		flight = flight[1:]
		if err := s.answer(ctx, b); err != nil {
			if stop == nil {
				stop = err
			}
			s.known.forget()
			left = append(left, b.reqs...)
			return
		}
		s.stored(ctx, b, results)
	}
	for len(todo) > 0 && stop == nil {
		n := fitBatch(reqs, todo)
		group := todo[:n]
		ids, streams := keys(reqs, group, allIDs)
		for len(flight) > 0 && (len(flight) >= s.window || len(ids) > 0 || overlaps(flight, streams)) {
			settle()
		}
		if stop != nil {
			break
		}
		b, err := s.plan(ctx, reqs, group, ids, streams, results)
		if err != nil {
			stop = err
			s.known.forget()
			break
		}
		todo = todo[n:]
		if b != nil {
			flight = append(flight, b)
		}
	}
	for len(flight) > 0 {
		settle()
	}
	return append(left, todo...), stop
}

// overlaps reports whether a batch in flight writes one of streams.
func overlaps(flight []*batch, streams []string) bool {
	for _, b := range flight {
		for _, st := range streams {
			if _, ok := b.plan.Streams[st]; ok {
				return true
			}
		}
	}
	return false
}

// plan plans the requests group on what is known and publishes their new
// events as one batch; it writes the results of a group that stores
// nothing (duplicates, failed expectations) and returns nil for it.
func (s *Store) plan(ctx context.Context, reqs []sluice.AppendRequest, group []int, ids, streams []string, results []sluice.AppendResult) (*batch, error) {
	fresh := make(map[string]bool)
	for _, i := range group {
		if reqs[i].Stream != "" {
			fresh[reqs[i].Stream] = true
		}
	}
	head, lasts, err := s.known.state(ctx, s, streams, fresh)
	if err != nil {
		return nil, err
	}
	p := sluice.NewCommitPlan(head, time.Now().UTC())
	for stream, l := range lasts {
		if l.version > 0 {
			p.Versions[stream] = l.version
		}
	}
	if len(ids) > 0 {
		if err := s.lookupIDs(ctx, head, ids, p.Stored); err != nil {
			return nil, err
		}
	}
	rs := make([]sluice.AppendRequest, len(group))
	for j, i := range group {
		rs[j] = reqs[i]
	}
	p.Add(rs)
	if len(p.Events) == 0 {
		for j, i := range group {
			results[i] = p.Results[j]
		}
		return nil, nil
	}
	if err := s.addStreamNames(ctx, p, lasts); err != nil {
		return nil, err
	}
	s.batchSeq++
	b := &batch{reqs: group, plan: p, base: head, seq: s.batchSeq, deadline: time.Now().Add(commitTimeout)}
	if err := s.publish(b, lasts); err != nil {
		return nil, err
	}
	s.known.advance(p)
	return b, nil
}

// stored takes in an answered batch: its results, the head, its ids for
// the indexer.
func (s *Store) stored(ctx context.Context, b *batch, results []sluice.AppendResult) {
	for j, i := range b.reqs {
		results[i] = b.plan.Results[j]
	}
	s.notifier.Publish(b.plan.Head)
	if err := s.indexer.add(ctx, b.base, b.plan.Events); err != nil {
		// The events are stored; the index catches up before its next
		// lookup (catchUpIndex), so the append stands.
		s.logger.Warn("jetstream: indexing event ids", "err", err)
	}
}

// fitBatch is how many of the requests todo, at least one, fit in one
// atomic batch.
func fitBatch(reqs []sluice.AppendRequest, todo []int) int {
	events := 0
	for j, i := range todo {
		events += len(reqs[i].Events)
		if events > MaxRequestEvents {
			return max(j, 1)
		}
	}
	return len(todo)
}

// keys returns the ids of the events of the requests group (all, or those
// of stream requests) and their distinct streams.
func keys(reqs []sluice.AppendRequest, group []int, allIDs bool) (ids, streams []string) {
	seen := make(map[string]bool)
	for _, g := range group {
		req := &reqs[g]
		for i := range req.Events {
			e := &req.Events[i]
			if allIDs || req.Stream != "" {
				ids = append(ids, e.ID)
			}
			if !seen[e.Stream] {
				seen[e.Stream] = true
				streams = append(streams, e.Stream)
			}
		}
	}
	return ids, streams
}

// lastOf reads where each stream ends from its last message, on the
// stream's leader.
func (s *Store) lastOf(ctx context.Context, streams []string) (map[string]last, error) {
	out := make([]last, len(streams))
	err := fanOut(ctx, len(streams), func(ctx context.Context, i int) error {
		l, err := s.streamLast(ctx, streams[i])
		out[i] = l
		return err
	})
	if err != nil {
		return nil, err
	}
	m := make(map[string]last, len(streams))
	for i, st := range streams {
		m[st] = out[i]
	}
	return m, nil
}

// streamLast is where stream ends; zero when it has no events.
func (s *Store) streamLast(ctx context.Context, stream string) (last, error) {
	m, err := s.log.GetLastMsgForSubject(ctx, s.subject(stream))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return last{}, nil
	}
	if err != nil {
		return last{}, fmt.Errorf("stream %q: %w", stream, err)
	}
	v, err := strconv.ParseUint(m.Header.Get(hdrVersion), 10, 64)
	if err != nil {
		return last{}, fmt.Errorf("stream %q: version header: %w", stream, err)
	}
	return last{version: v, position: sluice.Position(m.Sequence)}, nil
}

func (s *Store) subject(stream string) string { return s.prefix + encodeToken(stream) }

// addStreamNames records the names of the plan's new streams before their
// events are published, so that ListStreams never misses a stream (it
// skips a name whose events never came).
func (s *Store) addStreamNames(ctx context.Context, p *sluice.CommitPlan, lasts map[string]last) error {
	var names []string
	for name := range p.Streams {
		if lasts[name].version == 0 {
			names = append(names, name)
		}
	}
	return fanOut(ctx, len(names), func(ctx context.Context, i int) error {
		_, err := s.kv.streams.Put(ctx, encodeToken(names[i]), nil)
		return err
	})
}

// pubAck is JetStream's answer to a batch's commit.
type pubAck struct {
	Seq   uint64 `json:"seq"`
	Count int    `json:"count"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
}

// appendTimeout bounds one Append, its lookups and retries included: while
// the log has no leader every call waits for nats.go's API timeout, and the
// writer's queue waits with it. Past the bound Append fails with
// sluice.ErrUnavailable, and the edge answers 503 until a leader is elected
// (TestJetStreamCluster in reliability/ measures how long that takes).
const appendTimeout = 10 * time.Second

// commitTimeout bounds the wait for JetStream's answer to a commit, as
// nats.go bounds its API requests: a leader that dies after taking a batch
// never answers, and until the new leader is elected (a few seconds) the
// commit fails with sluice.ErrUnavailable instead of holding every writer.
// Whether such a batch was stored is unknown; a retry of it is deduplicated
// by its ids.
const commitTimeout = 5 * time.Second

// publish sends the batch's events, positions base+1 onwards, as one
// atomic batch: every message without waiting, the last with the commit
// and a reply subject for JetStream's answer (answer waits for it).
func (s *Store) publish(b *batch, lasts map[string]last) error {
	events := b.plan.Events
	batchID := nuid.Next()
	prev := make(map[string]sluice.Position, len(lasts))
	for name, l := range lasts {
		prev[name] = l.position
	}
	checked := make(map[string]bool, len(lasts))
	for i := range events {
		e := &events[i]
		body, err := encodeBody(e)
		if err != nil {
			return err
		}
		m := nats.NewMsg(s.subject(e.Stream))
		m.Data = body
		h := m.Header
		h.Set(jetstream.MsgIDHeader, e.ID)
		h.Set("Nats-Batch-Id", batchID)
		h.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		h.Set(hdrVersion, strconv.FormatUint(e.Version, 10))
		if i == 0 {
			h.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(uint64(b.base), 10))
		}
		p := prev[e.Stream]
		if !checked[e.Stream] {
			// The stream's first message in the batch: JetStream checks a
			// subject's last sequence once per batch.
			checked[e.Stream] = true
			h.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(uint64(p), 10))
		}
		if p > 0 {
			h.Set(hdrPrev, strconv.FormatUint(uint64(p), 10))
		}
		prev[e.Stream] = e.Position
		if i == len(events)-1 {
			h.Set("Nats-Batch-Commit", "1")
			m.Reply = s.inbox + "." + strconv.FormatUint(b.seq, 10)
		}
		if err := s.nc.PublishMsg(m); err != nil {
			return err
		}
	}
	return nil
}

// answer waits for JetStream's answer to b's commit, until b's deadline,
// and checks it. Answers to later batches that come first are kept for
// their turn; answers to batches given up on are dropped.
func (s *Store) answer(ctx context.Context, b *batch) error {
	ctx, cancel := context.WithDeadline(ctx, b.deadline)
	defer cancel()
	for {
		if m, ok := s.early[b.seq]; ok {
			delete(s.early, b.seq)
			return checkAck(m, b.base, len(b.plan.Events))
		}
		m, err := s.answers.NextMsgWithContext(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && !s.closed.Load() {
				return fmt.Errorf("commit: no answer within %s: %w", commitTimeout, nats.ErrTimeout)
			}
			return err
		}
		seq, err := strconv.ParseUint(m.Subject[len(s.inbox)+1:], 10, 64)
		switch {
		case err != nil || seq < b.seq:
		case seq == b.seq:
			return checkAck(m, b.base, len(b.plan.Events))
		default:
			s.early[seq] = m
		}
	}
}

// checkAck turns the commit's answer into errConflict, errDuplicateID or
// another error, or nil when the batch is stored at the positions planned.
func checkAck(reply *nats.Msg, head sluice.Position, n int) error {
	if reply.Header.Get("Status") == "503" {
		return fmt.Errorf("commit: %w", nats.ErrNoResponders)
	}
	var ack pubAck
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return fmt.Errorf("commit answer %q: %w", reply.Data, err)
	}
	if e := ack.Error; e != nil {
		switch e.ErrCode {
		case errCodeWrongLastSequence, errCodeWrongLastSeqConst:
			return fmt.Errorf("%w: %s", errConflict, e.Description)
		case errCodeBatchDuplicateMsgID:
			return fmt.Errorf("%w: %s", errDuplicateID, e.Description)
		}
		return &jetstream.APIError{Code: e.Code, ErrorCode: jetstream.ErrorCode(e.ErrCode), Description: e.Description}
	}
	if ack.Seq != uint64(head)+uint64(n) || ack.Count != n {
		return fmt.Errorf("commit of %d events after %d stored %d ending at %d", n, head, ack.Count, ack.Seq)
	}
	return nil
}
