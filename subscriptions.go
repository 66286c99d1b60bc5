package sluice

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Subscription is a durable, named reader of the log: a filter and a
// checkpoint (kept under ConsumerName) that its reader moves as it
// processes events.
type Subscription struct {
	// Name is 1–128 of A-Z a-z 0-9 . _ : - (see CheckSubscriptionName).
	Name string `json:"name"`
	// Filter selects the events the subscription delivers; the events it
	// skips count as processed.
	Filter Filter `json:"filter"`
	// Start is the checkpoint the subscription was created with: its first
	// event is the first after Start.
	Start Position `json:"start"`
	// CreatedAt and UpdatedAt are set by the store.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ConsumerName is the name of the subscription's checkpoint and lease.
func (s Subscription) ConsumerName() string { return SubscriptionConsumer(s.Name) }

// SubscriptionConsumer is the checkpoint and lease name of the subscription
// called name. Subscriptions share those names with other consumers (sinks)
// under a prefix of their own.
func SubscriptionConsumer(name string) string { return "subscription/" + name }

// Subscriptions keeps the definitions of durable subscriptions.
type Subscriptions interface {
	// PutSubscription creates the subscription, with its checkpoint set to
	// s.Start and no lease (whatever rows of its ConsumerName were left),
	// or, when one of that name exists, replaces its filter and keeps its
	// Start, checkpoint and lease. It returns the stored subscription and
	// whether it was created.
	PutSubscription(ctx context.Context, s Subscription) (Subscription, bool, error)
	// Subscription returns the named subscription, or an error wrapping
	// ErrSubscriptionNotFound.
	Subscription(ctx context.Context, name string) (Subscription, error)
	// ListSubscriptions returns up to limit subscriptions whose names sort
	// after the name after, in name order.
	ListSubscriptions(ctx context.Context, after string, limit int) ([]Subscription, error)
	// DeleteSubscription removes the subscription with its checkpoint and
	// lease, or returns an error wrapping ErrSubscriptionNotFound.
	DeleteSubscription(ctx context.Context, name string) error
}

// CheckSubscriptionName returns an error saying what is wrong with a
// subscription name, or nil when it is 1–128 of A-Z a-z 0-9 . _ : -.
func CheckSubscriptionName(name string) error {
	if reason := checkType(name); reason != "" {
		return fmt.Errorf("subscription name %q: %s", name, reason)
	}
	return nil
}

// Signals wakes goroutines waiting for something named to change, such as a
// consumer's checkpoint: WaitChange waits on it, Notify and NotifyMoved wake
// it. The zero value is ready to use.
type Signals struct {
	mu sync.Mutex
	m  map[string]*signal
}

// signal is one round of wake-ups of a name: Notify closes done, after
// setting moved when it knows where the checkpoint went.
type signal struct {
	done  chan struct{}
	moved Position // 0: unknown, the waiter reads it
}

// watch returns the signal that the next Notify of name closes.
func (s *Signals) watch(name string) *signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*signal)
	}
	sig, ok := s.m[name]
	if !ok {
		sig = &signal{done: make(chan struct{})}
		s.m[name] = sig
	}
	return sig
}

// Notify wakes every waiter on name; they read the state again.
func (s *Signals) Notify(name string) { s.NotifyMoved(name, 0) }

// NotifyMoved wakes every waiter on name with the news that its checkpoint
// has moved to p, which this process has just written: a waiter behind p
// takes p without reading the store again (on PostgreSQL, a round trip
// saved between an acknowledgement and the wait it ends).
func (s *Signals) NotifyMoved(name string, p Position) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sig, ok := s.m[name]; ok {
		sig.moved = p
		close(sig.done)
		delete(s.m, name)
	}
}

// NotifyAll wakes every waiter, whatever name it waits on: for when
// changes may have gone unseen, or when the store closes.
func (s *Signals) NotifyAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sig := range s.m {
		close(sig.done)
	}
	clear(s.m)
}

// WaitChange is how backends implement Checkpoints.WaitCheckpoint: it
// returns name's checkpoint, read with read, once it is not at, waking on
// signals rather than polling. A NotifyMoved ahead of at is returned
// without a read.
func WaitChange(ctx context.Context, signals *Signals, name string, at Position, read func(context.Context) (Position, error)) (Position, error) {
	for {
		sig := signals.watch(name)
		p, err := read(ctx)
		if err != nil || p != at {
			return p, err
		}
		select {
		case <-sig.done:
		case <-ctx.Done():
			return p, ctx.Err()
		}
		// A move ahead of at is taken as it is; anything else (a move
		// back, a deletion, another process's move) is read again.
		if sig.moved > at {
			return sig.moved, nil
		}
	}
}
