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
// consumer's checkpoint. A waiter takes the channel with Watch before it
// reads the state, and waits on it if the state is not yet what it wants;
// Notify closes the channel. The zero value is ready to use.
type Signals struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

// Watch returns a channel that Notify(name) closes.
func (s *Signals) Watch(name string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]chan struct{})
	}
	ch, ok := s.m[name]
	if !ok {
		ch = make(chan struct{})
		s.m[name] = ch
	}
	return ch
}

// Notify wakes every waiter on name.
func (s *Signals) Notify(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.m[name]; ok {
		close(ch)
		delete(s.m, name)
	}
}

// NotifyAll wakes every waiter, whatever name it waits on: for when
// changes may have gone unseen, or when the store closes.
func (s *Signals) NotifyAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.m {
		close(ch)
	}
	clear(s.m)
}

// WaitChange is how backends implement Checkpoints.WaitCheckpoint: it
// returns name's checkpoint, read with read, once it is not at, waking on
// signals rather than polling.
func WaitChange(ctx context.Context, signals *Signals, name string, at Position, read func(context.Context) (Position, error)) (Position, error) {
	for {
		ch := signals.Watch(name)
		p, err := read(ctx)
		if err != nil || p != at {
			return p, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return p, ctx.Err()
		}
	}
}
