package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice"
)

const (
	// recheckInterval is how long the listener waits for a notification
	// before it reads the head itself, which also proves its connection
	// alive.
	recheckInterval = 15 * time.Second
	// The listener reconnects after minRetryDelay, doubled after each
	// failure up to maxRetryDelay.
	minRetryDelay = 100 * time.Millisecond
	maxRetryDelay = 5 * time.Second
)

// WaitHead blocks until the head is above after and returns it. It is woken
// by this Store's commits and by the notifications of every other process's
// commits, not by polling.
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

// listenLoop keeps a connection listening on the head and checkpoint
// channels until ctx is done, and reconnects with backoff when it is lost.
func (s *Store) listenLoop(ctx context.Context) {
	defer close(s.listening)
	delay := minRetryDelay
	for {
		listened, err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			delay = minRetryDelay
		}
		s.logger.Warn("postgres: listener disconnected; WaitHead and WaitCheckpoint miss other processes' changes until it reconnects",
			"channels", []string{s.channel, s.checkpointChannel}, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// listenOnce connects, listens, and publishes every head and checkpoint
// change it learns of until the connection fails or ctx is done. Once it
// listens it reads the head, and wakes every WaitCheckpoint to read its
// checkpoint again, so that no change made while it was not listening is
// missed. listened reports whether it got that far.
func (s *Store) listenOnce(ctx context.Context) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, s.listen)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	listen := "LISTEN " + pgx.Identifier{s.channel}.Sanitize() + "; LISTEN " + pgx.Identifier{s.checkpointChannel}.Sanitize()
	if _, err := conn.Exec(ctx, listen); err != nil {
		return false, err
	}
	s.checkpoints.NotifyAll()
	for {
		if err := s.publishHead(ctx, conn); err != nil {
			return true, err
		}
		if err := s.publishNotifications(ctx, conn); err != nil {
			return true, err
		}
	}
}

// publishHead reads the head on conn and publishes it.
func (s *Store) publishHead(ctx context.Context, conn *pgx.Conn) error {
	var head int64
	if err := conn.QueryRow(ctx, selectHead).Scan(&head); err != nil {
		return fmt.Errorf("read head: %w", err)
	}
	s.notifier.Publish(sluice.Position(head))
	return nil
}

// publishNotifications publishes the heads and checkpoint changes notified
// on conn until none has come for recheckInterval (it returns nil) or the
// connection fails.
func (s *Store) publishNotifications(ctx context.Context, conn *pgx.Conn) error {
	for {
		wait, cancel := context.WithTimeout(ctx, recheckInterval)
		n, err := conn.WaitForNotification(wait)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && pgconn.Timeout(err):
			return nil
		case err != nil:
			return fmt.Errorf("wait for notification: %w", err)
		}
		if n.Channel == s.checkpointChannel {
			s.checkpoints.Notify(n.Payload) // the consumer's name
			continue
		}
		head, err := strconv.ParseUint(n.Payload, 10, 64)
		if err != nil {
			s.logger.Warn("postgres: ignoring a notification that is not a position", "channel", s.channel, "payload", n.Payload)
			continue
		}
		s.notifier.Publish(sluice.Position(head))
	}
}
