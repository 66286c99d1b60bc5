package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
)

// Checkpoint returns the consumer's position, 0 if it has none.
func (s *Store) Checkpoint(ctx context.Context, name string) (sluice.Position, error) {
	if err := s.checkOpen("checkpoint"); err != nil {
		return 0, err
	}
	p, _, err := s.checkpoint(ctx, name)
	if err != nil {
		return 0, s.fail("checkpoint", err)
	}
	return p, nil
}

// checkpoint is the consumer's position and its entry's revision (0: none).
func (s *Store) checkpoint(ctx context.Context, name string) (sluice.Position, uint64, error) {
	p, rev, err := getUint(ctx, s.kv.checkpoints, encodeToken(name))
	return sluice.Position(p), rev, err
}

// SetCheckpoint moves the consumer from old to new, with the entry's
// revision as the compare-and-set.
func (s *Store) SetCheckpoint(ctx context.Context, name string, old, new sluice.Position) error {
	if err := s.checkOpen("set checkpoint"); err != nil {
		return err
	}
	at, rev, err := s.checkpoint(ctx, name)
	if err != nil {
		return s.fail("set checkpoint", err)
	}
	if at != old {
		return fmt.Errorf("set checkpoint %q from %d: %w", name, old, sluice.ErrCheckpointConflict)
	}
	v := []byte(strconv.FormatUint(uint64(new), 10))
	if rev == 0 {
		_, err = s.kv.checkpoints.Create(ctx, encodeToken(name), v)
	} else {
		_, err = s.kv.checkpoints.Update(ctx, encodeToken(name), v, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
		return fmt.Errorf("set checkpoint %q from %d: %w", name, old, sluice.ErrCheckpointConflict)
	}
	if err != nil {
		return s.fail("set checkpoint", err)
	}
	return nil
}

// WaitCheckpoint blocks until the consumer's checkpoint is no longer at
// at. It reads the checkpoint from the leader, then watches its KV entry,
// so any process's change wakes it. The watch may be served by a replica
// that lags, so only entries newer than the leader's read count.
func (s *Store) WaitCheckpoint(ctx context.Context, name string, at sluice.Position) (sluice.Position, error) {
	op := fmt.Sprintf("wait checkpoint %q", name)
	if err := s.checkOpen(op); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.done, cancel)() // Close wakes the waiters
	w, err := s.kv.checkpoints.Watch(ctx, encodeToken(name))
	if err != nil {
		return 0, s.fail(op, err)
	}
	defer w.Stop()
	p, rev, err := s.checkpoint(ctx, name) // after the watch starts: no change falls between
	if err != nil {
		return 0, s.fail(op, err)
	}
	if p != at {
		return p, nil
	}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return 0, s.waitEnded(ctx, op)
			}
			if e == nil || e.Revision() <= rev {
				continue // the end of the current values, or what the leader had
			}
			var p uint64 // a deleted checkpoint is 0
			if e.Operation() == jetstream.KeyValuePut {
				if p, err = strconv.ParseUint(string(e.Value()), 10, 64); err != nil {
					return 0, fmt.Errorf("%s: %w", op, err)
				}
			}
			if sluice.Position(p) != at {
				return sluice.Position(p), nil
			}
		case <-ctx.Done():
			return at, s.waitEnded(ctx, op)
		}
	}
}

// waitEnded is the error of a wait that ctx ended: ErrClosed when Close
// did.
func (s *Store) waitEnded(ctx context.Context, op string) error {
	if err := s.checkOpen(op); err != nil {
		return err
	}
	return fmt.Errorf("%s: %w", op, context.Cause(ctx))
}

// storedLease is a lease's KV entry. Expiry compares the clocks of the
// processes that share the store, as on PostgreSQL it compares the
// database's.
type storedLease struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// AcquireLease takes or renews the lease, with the entry's revision as the
// compare-and-set.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (sluice.Lease, error) {
	if err := s.checkOpen("acquire lease"); err != nil {
		return sluice.Lease{}, err
	}
	key := encodeToken(name)
	for {
		var cur storedLease
		var rev uint64
		e, err := s.kv.leases.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return sluice.Lease{}, s.fail("acquire lease", err)
		default:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &cur); err != nil {
				return sluice.Lease{}, fmt.Errorf("acquire lease %q: %w", name, err)
			}
		}
		now := time.Now().UTC()
		if cur.Holder != "" && cur.Holder != holder && cur.Expires.After(now) {
			return sluice.Lease{}, &sluice.LeaseHeldError{Name: name, Holder: cur.Holder, Expires: cur.Expires}
		}
		next := storedLease{Holder: holder, Expires: now.Add(ttl)}
		v, _ := json.Marshal(next) // a storedLease always encodes
		if rev == 0 {
			_, err = s.kv.leases.Create(ctx, key, v)
		} else {
			_, err = s.kv.leases.Update(ctx, key, v, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
			continue // changed meanwhile: look again
		}
		if err != nil {
			return sluice.Lease{}, s.fail("acquire lease", err)
		}
		return sluice.Lease{Name: name, Holder: holder, Expires: next.Expires}, nil
	}
}

// ReleaseLease gives the lease up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := s.checkOpen("release lease"); err != nil {
		return err
	}
	key := encodeToken(name)
	e, err := s.kv.leases.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return s.fail("release lease", err)
	}
	var cur storedLease
	if err := json.Unmarshal(e.Value(), &cur); err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	if cur.Holder != holder {
		return nil
	}
	err = s.kv.leases.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
	if err != nil && !isWrongLastSequence(err) { // taken over meanwhile: not ours to release
		return s.fail("release lease", err)
	}
	return nil
}

// PutSubscription creates the subscription, starting its checkpoint at
// Start and freeing its lease, or replaces the filter of the one stored.
func (s *Store) PutSubscription(ctx context.Context, sub sluice.Subscription) (sluice.Subscription, bool, error) {
	if err := sluice.CheckSubscriptionName(sub.Name); err != nil {
		return sluice.Subscription{}, false, fmt.Errorf("put subscription: %w", err)
	}
	op := fmt.Sprintf("put subscription %q", sub.Name)
	if err := s.checkOpen(op); err != nil {
		return sluice.Subscription{}, false, err
	}
	key := encodeToken(sub.Name)
	for {
		stored, rev, err := s.subscription(ctx, sub.Name)
		if err != nil && !errors.Is(err, sluice.ErrSubscriptionNotFound) {
			return sluice.Subscription{}, false, s.fail(op, err)
		}
		now := time.Now().UTC()
		created := rev == 0
		if created {
			stored = sluice.Subscription{Name: sub.Name, Start: sub.Start, CreatedAt: now}
		}
		stored.Filter, stored.UpdatedAt = sub.Filter, now
		if created {
			stored.UpdatedAt = stored.CreatedAt
		}
		v, _ := json.Marshal(stored) // a Subscription always encodes
		if created {
			_, err = s.kv.subs.Create(ctx, key, v)
		} else {
			_, err = s.kv.subs.Update(ctx, key, v, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
			continue
		}
		if err == nil && created {
			err = s.resetConsumer(ctx, stored.ConsumerName(), stored.Start)
		}
		if err != nil {
			return sluice.Subscription{}, false, s.fail(op, err)
		}
		return stored, created, nil
	}
}

// resetConsumer sets a consumer's checkpoint to p (deletes it at 0) and
// frees its lease: a subscription created or deleted starts afresh.
func (s *Store) resetConsumer(ctx context.Context, consumer string, p sluice.Position) error {
	key := encodeToken(consumer)
	if err := s.kv.leases.Delete(ctx, key); err != nil {
		return err
	}
	if p == 0 {
		return s.kv.checkpoints.Delete(ctx, key)
	}
	_, err := s.kv.checkpoints.Put(ctx, key, []byte(strconv.FormatUint(uint64(p), 10)))
	return err
}

// Subscription returns the named subscription.
func (s *Store) Subscription(ctx context.Context, name string) (sluice.Subscription, error) {
	op := fmt.Sprintf("subscription %q", name)
	if err := s.checkOpen(op); err != nil {
		return sluice.Subscription{}, err
	}
	sub, _, err := s.subscription(ctx, name)
	if errors.Is(err, sluice.ErrSubscriptionNotFound) {
		return sluice.Subscription{}, fmt.Errorf("%s: %w", op, err)
	}
	if err != nil {
		return sluice.Subscription{}, s.fail(op, err)
	}
	return sub, nil
}

// subscription reads a subscription and its entry's revision.
func (s *Store) subscription(ctx context.Context, name string) (sluice.Subscription, uint64, error) {
	e, err := s.kv.subs.Get(ctx, encodeToken(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return sluice.Subscription{}, 0, sluice.ErrSubscriptionNotFound
	}
	if err != nil {
		return sluice.Subscription{}, 0, err
	}
	var sub sluice.Subscription
	if err := json.Unmarshal(e.Value(), &sub); err != nil {
		return sluice.Subscription{}, 0, fmt.Errorf("subscription %q: %w", name, err)
	}
	return sub, e.Revision(), nil
}

// ListSubscriptions returns up to limit subscriptions after the name after,
// in name order.
func (s *Store) ListSubscriptions(ctx context.Context, after string, limit int) ([]sluice.Subscription, error) {
	if err := s.checkOpen("list subscriptions"); err != nil {
		return nil, err
	}
	names, err := listNames(ctx, s.kv.subs, "", after)
	if err != nil {
		return nil, s.fail("list subscriptions", err)
	}
	names = names[:min(len(names), max(limit, 1))]
	out := make([]sluice.Subscription, 0, len(names))
	for _, name := range names {
		sub, _, err := s.subscription(ctx, name)
		if errors.Is(err, sluice.ErrSubscriptionNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return nil, s.fail("list subscriptions", err)
		}
		out = append(out, sub)
	}
	return out, nil
}

// DeleteSubscription deletes the subscription with its checkpoint and its
// lease.
func (s *Store) DeleteSubscription(ctx context.Context, name string) error {
	op := fmt.Sprintf("delete subscription %q", name)
	if err := s.checkOpen(op); err != nil {
		return err
	}
	_, rev, err := s.subscription(ctx, name)
	if errors.Is(err, sluice.ErrSubscriptionNotFound) {
		return fmt.Errorf("subscription %q: %w", name, err)
	}
	if err == nil {
		err = s.kv.subs.Delete(ctx, encodeToken(name), jetstream.LastRevision(rev))
		if isWrongLastSequence(err) {
			return fmt.Errorf("subscription %q: %w", name, sluice.ErrSubscriptionNotFound) // deleted meanwhile
		}
	}
	if err == nil {
		err = s.resetConsumer(ctx, sluice.SubscriptionConsumer(name), 0)
	}
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// listNames lists a bucket's keys, decoded, that start with prefix and sort
// after after, in order.
func listNames(ctx context.Context, kv bucket, prefix, after string) ([]string, error) {
	keys, err := listKeys(ctx, kv, ">")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, key := range keys {
		name, err := decodeToken(key)
		if err != nil {
			continue // not a name: the id index's watermark, say
		}
		if strings.HasPrefix(name, prefix) && name > after {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// listKeys lists a bucket's keys that match filter (a subject filter
// within the bucket), as stored, in no order. It scans the last entry of
// each key on the bucket stream's leader: nats.go's ListKeys reads through
// a consumer on any replica, which may not have a key just written.
func listKeys(ctx context.Context, kv bucket, filter string) ([]string, error) {
	prefix := "$KV." + kv.Bucket() + "."
	cfg := scanConfig(prefix + filter)
	cfg.DeliverPolicy, cfg.HeadersOnly = jetstream.DeliverLastPerSubjectPolicy, true
	seen := map[string]bool{} // a scan started again can see a key twice
	var keys []string
	err := scanWith(ctx, kv.stream, cfg, func(m jetstream.Msg) (bool, error) {
		if op := m.Headers().Get(kvOperation); op == kvDelete || op == kvPurge {
			return true, nil
		}
		if key := strings.TrimPrefix(m.Subject(), prefix); !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
		return true, nil
	})
	return keys, err
}

// The header of a KV entry that marks a deleted key, and its values.
const (
	kvOperation = "KV-Operation"
	kvDelete    = "DEL"
	kvPurge     = "PURGE"
)
