package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice"
)

const subscriptionColumns = "name, filter, start_position, created_at, updated_at"

// PutSubscription creates the subscription or replaces its filter; see
// sluice.Subscriptions. A new subscription's checkpoint is set to its Start
// and its lease removed, whatever rows of that name were left, in the same
// transaction.
func (s *Store) PutSubscription(ctx context.Context, sub sluice.Subscription) (sluice.Subscription, bool, error) {
	if err := sluice.CheckSubscriptionName(sub.Name); err != nil {
		return sluice.Subscription{}, false, fmt.Errorf("put subscription: %w", err)
	}
	op := fmt.Sprintf("put subscription %q", sub.Name)
	if err := s.checkOpen(op); err != nil {
		return sluice.Subscription{}, false, err
	}
	filter, _ := json.Marshal(sub.Filter) // a Filter always encodes
	consumer := sub.ConsumerName()
	var stored sluice.Subscription
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Each statement sees what is committed when it starts: another
		// process may create the subscription after the UPDATE found none,
		// or delete it after the INSERT found one.
		for {
			rows, _ := tx.Query(ctx, "UPDATE subscriptions SET filter = $2, updated_at = now() WHERE name = $1 RETURNING "+subscriptionColumns,
				sub.Name, string(filter)) // CollectOneRow reports Query's error
			var err error
			stored, err = pgx.CollectOneRow(rows, readSubscription)
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			rows, _ = tx.Query(ctx, `INSERT INTO subscriptions (`+subscriptionColumns+`) VALUES ($1, $2, $3, now(), now())
				ON CONFLICT (name) DO NOTHING RETURNING `+subscriptionColumns,
				sub.Name, string(filter), toInt64(uint64(sub.Start)))
			stored, err = pgx.CollectOneRow(rows, readSubscription)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			created = true
			b := &pgx.Batch{}
			b.Queue("INSERT INTO checkpoints (name, position) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET position = excluded.position",
				consumer, toInt64(uint64(sub.Start)))
			s.queueConsumerChange(b, consumer)
			return tx.SendBatch(ctx, b).Close()
		}
	})
	if err != nil {
		return sluice.Subscription{}, false, s.fail(op, err)
	}
	if created {
		s.checkpoints.Notify(consumer)
	}
	return stored, created, nil
}

// Subscription returns the named subscription.
func (s *Store) Subscription(ctx context.Context, name string) (sluice.Subscription, error) {
	op := fmt.Sprintf("subscription %q", name)
	if err := s.checkOpen(op); err != nil {
		return sluice.Subscription{}, err
	}
	rows, _ := s.pool.Query(ctx, "SELECT "+subscriptionColumns+" FROM subscriptions WHERE name = $1", name) // CollectOneRow reports Query's error
	sub, err := pgx.CollectOneRow(rows, readSubscription)
	if errors.Is(err, pgx.ErrNoRows) {
		return sluice.Subscription{}, fmt.Errorf("%s: %w", op, sluice.ErrSubscriptionNotFound)
	}
	if err != nil {
		return sluice.Subscription{}, s.fail(op, err)
	}
	return sub, nil
}

// ListSubscriptions returns up to limit subscriptions named after after, in
// byte order of the names.
func (s *Store) ListSubscriptions(ctx context.Context, after string, limit int) ([]sluice.Subscription, error) {
	if err := s.checkOpen("list subscriptions"); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, "SELECT "+subscriptionColumns+" FROM subscriptions WHERE name > $1 ORDER BY name LIMIT $2",
		after, max(limit, 1)) // CollectRows reports Query's error
	subs, err := pgx.CollectRows(rows, readSubscription)
	if err != nil {
		return nil, s.fail("list subscriptions", err)
	}
	return subs, nil
}

// DeleteSubscription removes the subscription, its checkpoint and its lease
// in one transaction.
func (s *Store) DeleteSubscription(ctx context.Context, name string) error {
	op := fmt.Sprintf("delete subscription %q", name)
	if err := s.checkOpen(op); err != nil {
		return err
	}
	consumer := sluice.SubscriptionConsumer(name)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM subscriptions WHERE name = $1", name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return sluice.ErrSubscriptionNotFound
		}
		b := &pgx.Batch{}
		b.Queue("DELETE FROM checkpoints WHERE name = $1", consumer)
		s.queueConsumerChange(b, consumer)
		return tx.SendBatch(ctx, b).Close()
	})
	if errors.Is(err, sluice.ErrSubscriptionNotFound) {
		return fmt.Errorf("subscription %q: %w", name, err)
	}
	if err != nil {
		return s.fail(op, err)
	}
	s.checkpoints.Notify(consumer)
	return nil
}

// queueConsumerChange queues, after a statement that sets or removes the
// consumer's checkpoint, the removal of its lease and the announcement of
// the change to the WaitCheckpoint calls of every process (NOTIFY, sent at
// commit).
func (s *Store) queueConsumerChange(b *pgx.Batch, consumer string) {
	b.Queue("DELETE FROM leases WHERE name = $1", consumer)
	b.Queue("SELECT pg_notify($1, $2)", s.checkpointChannel, consumer)
}

// readSubscription reads a row of subscriptionColumns.
func readSubscription(row pgx.CollectableRow) (sluice.Subscription, error) {
	var sub sluice.Subscription
	var filter []byte
	var start int64
	if err := row.Scan(&sub.Name, &filter, &start, &sub.CreatedAt, &sub.UpdatedAt); err != nil {
		return sluice.Subscription{}, err
	}
	sub.Start, sub.CreatedAt, sub.UpdatedAt = sluice.Position(start), sub.CreatedAt.UTC(), sub.UpdatedAt.UTC()
	if err := json.Unmarshal(filter, &sub.Filter); err != nil {
		return sluice.Subscription{}, fmt.Errorf("subscription %q: filter: %w", sub.Name, err)
	}
	return sub, nil
}
