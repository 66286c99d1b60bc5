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

// Append plans the requests with sluice.CommitPlan on the log's head and
// its streams' versions, then publishes the new events as atomic batches of
// whole requests (at most MaxRequestEvents messages each). The first
// message of a batch expects the log's last sequence to be the plan's, and
// the first of each stream expects that stream's last sequence, so a batch
// commits only on the state it was planned on; when another process came
// first, Append plans the remaining requests again.
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
	results := make([]sluice.AppendResult, 0, len(reqs))
	allIDs := false
	for len(reqs) > 0 {
		n, res, err := s.commitBatch(ctx, reqs, allIDs)
		switch {
		case err == nil:
			results = append(results, res...)
			reqs = reqs[n:]
			allIDs = false
		case errors.Is(err, errConflict):
		case errors.Is(err, errDuplicateID) && !allIDs:
			allIDs = true
		default:
			return nil, s.fail("append", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, s.fail("append", err)
		}
	}
	return results, nil
}

// last is where a stream ends: its version and the position of its last
// event.
type last struct {
	version  uint64
	position sluice.Position
}

// commitBatch plans the first requests of reqs that fit in one atomic
// batch and publishes them; it returns how many requests it stored and
// their results.
func (s *Store) commitBatch(ctx context.Context, reqs []sluice.AppendRequest, allIDs bool) (int, []sluice.AppendResult, error) {
	n := fitBatch(reqs)
	reqs = reqs[:n]
	info, err := s.log.Info(ctx)
	if err != nil {
		return 0, nil, err
	}
	head := sluice.Position(info.State.LastSeq)
	s.notifier.Publish(head)
	ids, streams := keys(reqs, allIDs)
	lasts, err := s.lastOf(ctx, streams)
	if err != nil {
		return 0, nil, err
	}
	p := sluice.NewCommitPlan(head, time.Now().UTC())
	for stream, l := range lasts {
		if l.version > 0 {
			p.Versions[stream] = l.version
		}
	}
	if len(ids) > 0 {
		if err := s.lookupIDs(ctx, head, ids, p.Stored); err != nil {
			return 0, nil, err
		}
	}
	p.Add(reqs)
	if len(p.Events) == 0 {
		return n, p.Results, nil
	}
	if err := s.addStreamNames(ctx, p, lasts); err != nil {
		return 0, nil, err
	}
	if err := s.publish(ctx, head, p.Events, lasts); err != nil {
		return 0, nil, err
	}
	s.notifier.Publish(p.Head)
	if err := s.indexIDs(ctx, head, p.Events); err != nil {
		// The events are stored; the index catches up before its next
		// lookup (catchUpIndex), so the append stands.
		s.logger.Warn("jetstream: indexing event ids", "err", err)
	}
	return n, p.Results, nil
}

// fitBatch is how many of reqs, at least one, fit in one atomic batch.
func fitBatch(reqs []sluice.AppendRequest) int {
	events := 0
	for i, r := range reqs {
		events += len(r.Events)
		if events > MaxRequestEvents {
			return max(i, 1)
		}
	}
	return len(reqs)
}

// keys returns the ids of the requests' events (all, or those of stream
// requests) and their distinct streams.
func keys(reqs []sluice.AppendRequest, allIDs bool) (ids, streams []string) {
	seen := make(map[string]bool)
	for _, req := range reqs {
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

// publish sends events, positions head+1 onwards, as one atomic batch:
// every message but the last without waiting, the last with the commit
// and a request for JetStream's answer.
func (s *Store) publish(ctx context.Context, head sluice.Position, events []sluice.Event, lasts map[string]last) error {
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	batchID := nuid.Next()
	prev := make(map[string]sluice.Position, len(lasts))
	for name, l := range lasts {
		prev[name] = l.position
	}
	checked := make(map[string]bool, len(lasts))
	var reply *nats.Msg
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
			h.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(uint64(head), 10))
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
		if i < len(events)-1 {
			if err := s.nc.PublishMsg(m); err != nil {
				return err
			}
			continue
		}
		h.Set("Nats-Batch-Commit", "1")
		if reply, err = s.nc.RequestMsgWithContext(ctx, m); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("commit: no answer within %s: %w", commitTimeout, nats.ErrTimeout)
			}
			return err
		}
	}
	return checkAck(reply, head, len(events))
}

// checkAck turns the commit's answer into errConflict, errDuplicateID or
// another error, or nil when the batch is stored at the positions planned.
func checkAck(reply *nats.Msg, head sluice.Position, n int) error {
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
