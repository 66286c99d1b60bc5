package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

const subscriptionColumns = "name, filter, start_position, created_at, updated_at"

// PutSubscription replaces the subscription's filter, or creates it when
// there is none to update; see sluice.Subscriptions. A new subscription's
// checkpoint is set to its Start and its lease removed, whatever rows of
// that name were left, in the same transaction.
func (s *Store) PutSubscription(ctx context.Context, sub sluice.Subscription) (sluice.Subscription, bool, error) {
	if err := sluice.CheckSubscriptionName(sub.Name); err != nil {
		return sluice.Subscription{}, false, fmt.Errorf("put subscription: %w", err)
	}
	filter, _ := json.Marshal(sub.Filter) // a Filter always encodes
	consumer := sub.ConsumerName()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.Subscription{}, false, sluice.ErrClosed
	}
	now := time.Now().UnixNano()
	var stored sluice.Subscription
	created := false
	err := s.inTx(ctx, func(tx *sql.Conn) error {
		var err error
		stored, err = scanSubscription(tx.QueryRowContext(ctx, "UPDATE subscriptions SET filter = ?, updated_at = ? WHERE name = ? RETURNING "+subscriptionColumns,
			string(filter), now, sub.Name))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		created = true
		stored, err = scanSubscription(tx.QueryRowContext(ctx, "INSERT INTO subscriptions ("+subscriptionColumns+") VALUES (?, ?, ?, ?, ?) RETURNING "+subscriptionColumns,
			sub.Name, string(filter), int64(sub.Start), now, now))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO checkpoints (name, position) VALUES (?, ?)", consumer, int64(sub.Start)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM leases WHERE name = ?", consumer)
		return err
	})
	if err != nil {
		return sluice.Subscription{}, false, unavailable(fmt.Sprintf("put subscription %q", sub.Name), err)
	}
	if created {
		s.setCached(consumer, sub.Start, false)
		s.checkpoints.Notify(consumer)
	}
	return stored, created, nil
}

// Subscription returns the named subscription.
func (s *Store) Subscription(ctx context.Context, name string) (sluice.Subscription, error) {
	if err := s.checkOpen(); err != nil {
		return sluice.Subscription{}, err
	}
	sub, err := scanSubscription(s.reads.QueryRowContext(ctx, "SELECT "+subscriptionColumns+" FROM subscriptions WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return sluice.Subscription{}, fmt.Errorf("subscription %q: %w", name, sluice.ErrSubscriptionNotFound)
	}
	if err != nil {
		return sluice.Subscription{}, fmt.Errorf("read subscription %q: %w", name, err)
	}
	return sub, nil
}

// ListSubscriptions returns up to limit subscriptions named after after, in
// name order.
func (s *Store) ListSubscriptions(ctx context.Context, after string, limit int) ([]sluice.Subscription, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.reads.QueryContext(ctx, "SELECT "+subscriptionColumns+" FROM subscriptions WHERE name > ? ORDER BY name LIMIT ?", after, max(limit, 1))
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	defer rows.Close()
	var out []sluice.Subscription
	for rows.Next() {
		sub, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return out, nil
}

// DeleteSubscription removes the subscription, its checkpoint and its lease
// in one transaction.
func (s *Store) DeleteSubscription(ctx context.Context, name string) error {
	consumer := sluice.SubscriptionConsumer(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	err := s.inTx(ctx, func(tx *sql.Conn) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM subscriptions WHERE name = ?", name)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return sluice.ErrSubscriptionNotFound
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM checkpoints WHERE name = ?", consumer); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM leases WHERE name = ?", consumer)
		return err
	})
	if errors.Is(err, sluice.ErrSubscriptionNotFound) {
		return fmt.Errorf("subscription %q: %w", name, err)
	}
	if err != nil {
		return unavailable(fmt.Sprintf("delete subscription %q", name), err)
	}
	s.setCached(consumer, 0, true)
	s.checkpoints.Notify(consumer)
	return nil
}

// scanSubscription reads a row of subscriptionColumns.
func scanSubscription(row interface{ Scan(...any) error }) (sluice.Subscription, error) {
	var sub sluice.Subscription
	var filter []byte
	var start, created, updated int64
	if err := row.Scan(&sub.Name, &filter, &start, &created, &updated); err != nil {
		return sluice.Subscription{}, err
	}
	sub.Start, sub.CreatedAt, sub.UpdatedAt = sluice.Position(start), time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	if err := json.Unmarshal(filter, &sub.Filter); err != nil {
		return sluice.Subscription{}, fmt.Errorf("subscription %q: filter: %w", sub.Name, err)
	}
	return sub, nil
}
