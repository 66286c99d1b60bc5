package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
)

// Quarantined events and dead letters are streams of their own, one
// message per event id (per sink for dead letters) with at most one
// message per subject, so that a new one replaces the old under a higher
// sequence; the sequence is their Seq, and they may be deleted.

// recordStreams creates the quarantine's and the dead letters' streams.
func (s *Store) recordStreams(ctx context.Context, replicas int) error {
	for _, what := range []string{"quarantine", "dead"} {
		st, err := placing(ctx, func() (jetstream.Stream, error) {
			return s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
				Name:              s.name + "_" + what,
				Subjects:          []string{s.name + "." + what + ".>"},
				Storage:           jetstream.FileStorage,
				Replicas:          replicas,
				MaxMsgsPerSubject: 1,
			})
		})
		if err != nil {
			return fmt.Errorf("%s stream: %w", what, err)
		}
		if what == "quarantine" {
			s.quarantine = st
		} else {
			s.dead = st
		}
	}
	return nil
}

// publishAllWindow bounds the publishes of publishAll that wait for their
// answer at once: nats.go stalls an asynchronous publish for 200 ms and
// then fails it once 4,000 are pending (its default max pending).
const publishAllWindow = 1000

// publishAll publishes the bodies to their subjects without waiting for
// each answer, at most publishAllWindow at a time, then waits for them
// all, in order.
func (s *Store) publishAll(ctx context.Context, subjects []string, bodies [][]byte) error {
	for start := 0; start < len(subjects); start += publishAllWindow {
		end := min(start+publishAllWindow, len(subjects))
		if err := s.publishWindow(ctx, subjects[start:end], bodies[start:end]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) publishWindow(ctx context.Context, subjects []string, bodies [][]byte) error {
	acks := make([]jetstream.PubAckFuture, len(subjects))
	for i := range subjects {
		f, err := s.js.PublishAsync(subjects[i], bodies[i])
		if err != nil {
			return err
		}
		acks[i] = f
	}
	for _, f := range acks {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// scanRecords calls fn for the messages of st on filter after sequence
// after, in order, until fn returns false.
func scanRecords(ctx context.Context, st jetstream.Stream, filter string, after int64, fn func(seq int64, data []byte) (bool, error)) error {
	return scanStream(ctx, st, uint64(max(after, 0)), filter, func(m jetstream.Msg) (bool, error) {
		meta, err := m.Metadata()
		if err != nil {
			return false, err
		}
		return fn(int64(meta.Sequence.Stream), m.Data())
	})
}

// deleteRecords deletes the messages at seqs of st whose subject filter
// matches (checked with a get first); missing ones are skipped.
func deleteRecords(ctx context.Context, st jetstream.Stream, seqs []int64, keep func(subject string) bool) error {
	return fanOut(ctx, len(seqs), func(ctx context.Context, i int) error {
		m, err := st.GetMsg(ctx, uint64(seqs[i]))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if keep(m.Subject) {
			return nil
		}
		err = st.DeleteMsg(ctx, uint64(seqs[i]))
		if errors.Is(err, jetstream.ErrMsgNotFound) || errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) {
			return nil
		}
		return err
	})
}

// storedQuarantined is a quarantined event's body.
type storedQuarantined struct {
	Event   []byte             `json:"event"` // encodeBody's layout
	Reasons []sluice.Violation `json:"reasons"`
	Key     string             `json:"key"`
	At      time.Time          `json:"at"`
}

// AddQuarantined stores the events, each replacing an earlier one with its
// id; one without At is quarantined now.
func (s *Store) AddQuarantined(ctx context.Context, qs []sluice.Quarantined) error {
	if err := s.checkOpen("add quarantined"); err != nil {
		return err
	}
	subjects, bodies := make([]string, len(qs)), make([][]byte, len(qs))
	now := time.Now().UTC()
	for i := range qs {
		q := &qs[i]
		ev, err := encodeBody(&q.Event)
		if err != nil {
			return fmt.Errorf("add quarantined: %w", err)
		}
		at := q.At
		if at.IsZero() {
			at = now
		}
		bodies[i], _ = json.Marshal(storedQuarantined{Event: ev, Reasons: q.Reasons, Key: q.Key, At: at.UTC()}) // always encodes
		subjects[i] = s.name + ".quarantine." + encodeToken(q.Event.ID)
	}
	if err := s.publishAll(ctx, subjects, bodies); err != nil {
		return s.fail("add quarantined", err)
	}
	return nil
}

func decodeQuarantined(seq int64, data []byte) (sluice.Quarantined, error) {
	var sq storedQuarantined
	if err := json.Unmarshal(data, &sq); err != nil {
		return sluice.Quarantined{}, fmt.Errorf("quarantined seq %d: %w", seq, err)
	}
	e, err := decodeBody(sq.Event)
	if err != nil {
		return sluice.Quarantined{}, fmt.Errorf("quarantined seq %d: %w", seq, err)
	}
	return sluice.Quarantined{Seq: seq, Event: e, Reasons: sq.Reasons, Key: sq.Key, At: sq.At.UTC()}, nil
}

// ListQuarantined returns the events that q selects, in Seq order.
func (s *Store) ListQuarantined(ctx context.Context, q sluice.QuarantineQuery) ([]sluice.Quarantined, error) {
	if err := s.checkOpen("list quarantined"); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []sluice.Quarantined
	err := scanRecords(ctx, s.quarantine, s.name+".quarantine.>", q.After, func(seq int64, data []byte) (bool, error) {
		r, err := decodeQuarantined(seq, data)
		if err != nil {
			return false, err
		}
		if (len(q.IDs) == 0 || slices.Contains(q.IDs, r.Event.ID)) &&
			(len(q.Types) == 0 || slices.Contains(q.Types, r.Event.Type)) &&
			(q.Since.IsZero() || !r.At.Before(q.Since)) && (q.Until.IsZero() || r.At.Before(q.Until)) {
			out = append(out, r)
		}
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, s.fail("list quarantined", err)
	}
	return out, nil
}

// DeleteQuarantined deletes the events at seqs; unknown ones are skipped.
func (s *Store) DeleteQuarantined(ctx context.Context, seqs []int64) error {
	if err := s.checkOpen("delete quarantined"); err != nil {
		return err
	}
	if err := deleteRecords(ctx, s.quarantine, seqs, func(string) bool { return false }); err != nil {
		return s.fail("delete quarantined", err)
	}
	return nil
}

// TrimQuarantine removes the oldest events beyond maxCount (0: no bound)
// and those quarantined before olderThan (zero: no bound), and returns how
// many it removed: one purge of everything below the first event kept.
func (s *Store) TrimQuarantine(ctx context.Context, maxCount int, olderThan time.Time) (int, error) {
	if err := s.checkOpen("trim quarantine"); err != nil {
		return 0, err
	}
	info, err := s.quarantine.Info(ctx)
	if err != nil {
		return 0, s.fail("trim quarantine", err)
	}
	excess := 0
	if maxCount > 0 {
		excess = max(int(info.State.Msgs)-maxCount, 0)
	}
	var keep int64 // the sequence of the first event kept; 0: all kept
	seen := 0
	err = scanRecords(ctx, s.quarantine, s.name+".quarantine.>", 0, func(seq int64, data []byte) (bool, error) {
		r, err := decodeQuarantined(seq, data)
		if err != nil {
			return false, err
		}
		if seen >= excess && (olderThan.IsZero() || !r.At.Before(olderThan)) {
			keep = seq
			return false, nil
		}
		seen++
		return true, nil
	})
	if err != nil {
		return 0, s.fail("trim quarantine", err)
	}
	if seen == 0 {
		return 0, nil
	}
	opts := []jetstream.StreamPurgeOpt{}
	if keep > 0 {
		opts = append(opts, jetstream.WithPurgeSequence(uint64(keep)))
	}
	if err := s.quarantine.Purge(ctx, opts...); err != nil {
		return 0, s.fail("trim quarantine", err)
	}
	return seen, nil
}

// storedDeadLetter is a dead letter's body.
type storedDeadLetter struct {
	Event          []byte    `json:"event"` // encodeBody's layout
	Attempts       int       `json:"attempts"`
	Error          string    `json:"error"`
	FirstAttemptAt time.Time `json:"first_attempt_at"`
	At             time.Time `json:"at"`
}

func (s *Store) deadSubject(sink string) string { return s.name + ".dead." + encodeToken(sink) }

// AddDeadLetters stores the dead letters, each replacing an earlier one of
// its sink and event id.
func (s *Store) AddDeadLetters(ctx context.Context, ds []sluice.DeadLetter) error {
	if err := s.checkOpen("add dead letters"); err != nil {
		return err
	}
	subjects, bodies := make([]string, len(ds)), make([][]byte, len(ds))
	for i := range ds {
		d := &ds[i]
		ev, err := encodeBody(&d.Event)
		if err != nil {
			return fmt.Errorf("add dead letters: %w", err)
		}
		bodies[i], _ = json.Marshal(storedDeadLetter{Event: ev, Attempts: d.Attempts, Error: d.Error,
			FirstAttemptAt: d.FirstAttemptAt.UTC(), At: d.At.UTC()}) // always encodes
		subjects[i] = s.deadSubject(d.Sink) + "." + encodeToken(d.Event.ID)
	}
	if err := s.publishAll(ctx, subjects, bodies); err != nil {
		return s.fail("add dead letters", err)
	}
	return nil
}

// ListDeadLetters returns the sink's dead letters that q selects, in Seq
// order.
func (s *Store) ListDeadLetters(ctx context.Context, q sluice.DeadLetterQuery) ([]sluice.DeadLetter, error) {
	if err := s.checkOpen("list dead letters"); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []sluice.DeadLetter
	err := scanRecords(ctx, s.dead, s.deadSubject(q.Sink)+".*", q.After, func(seq int64, data []byte) (bool, error) {
		var sd storedDeadLetter
		if err := json.Unmarshal(data, &sd); err != nil {
			return false, fmt.Errorf("dead letter seq %d: %w", seq, err)
		}
		e, err := decodeBody(sd.Event)
		if err != nil {
			return false, fmt.Errorf("dead letter seq %d: %w", seq, err)
		}
		if len(q.IDs) == 0 || slices.Contains(q.IDs, e.ID) {
			out = append(out, sluice.DeadLetter{Seq: seq, Sink: q.Sink, Event: e, Attempts: sd.Attempts, Error: sd.Error,
				FirstAttemptAt: sd.FirstAttemptAt.UTC(), At: sd.At.UTC()})
		}
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, s.fail("list dead letters", err)
	}
	return out, nil
}

// DeleteDeadLetters deletes the sink's dead letters at seqs; another
// sink's, and unknown seqs, are skipped.
func (s *Store) DeleteDeadLetters(ctx context.Context, sink string, seqs []int64) error {
	if err := s.checkOpen("delete dead letters"); err != nil {
		return err
	}
	prefix := s.deadSubject(sink) + "."
	err := deleteRecords(ctx, s.dead, seqs, func(subject string) bool {
		return len(subject) < len(prefix) || subject[:len(prefix)] != prefix
	})
	if err != nil {
		return s.fail("delete dead letters", err)
	}
	return nil
}

// CountDeadLetters counts the sink's dead letters, from the stream's count
// of messages on the sink's subjects.
func (s *Store) CountDeadLetters(ctx context.Context, sink string) (int64, error) {
	if err := s.checkOpen("count dead letters"); err != nil {
		return 0, err
	}
	info, err := s.dead.Info(ctx, jetstream.WithSubjectFilter(s.deadSubject(sink)+".*"))
	if err != nil {
		return 0, s.fail("count dead letters", err)
	}
	var n int64
	for _, c := range info.State.Subjects {
		n += int64(c)
	}
	return n, nil
}
