package sluice

import (
	"context"
	"sync"
)

// HeadNotifier lets goroutines wait for the log head to pass a position.
// Backends publish each commit's head to it (and, on PostgreSQL, the heads
// that other processes announce); it implements Log.WaitHead. The zero
// value is ready to use.
type HeadNotifier struct {
	mu      sync.Mutex
	head    Position
	changed chan struct{} // closed and replaced when head moves
}

// Publish records that the log head is at least p and wakes the waiters.
func (n *HeadNotifier) Publish(p Position) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if p <= n.head {
		return
	}
	n.head = p
	if n.changed != nil {
		close(n.changed)
		n.changed = nil
	}
}

// Head returns the highest position published.
func (n *HeadNotifier) Head() Position {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.head
}

// WaitOr is Wait that also returns once done is done: a store's WaitHead,
// which its Close (cancelling done) must wake.
func (n *HeadNotifier) WaitOr(ctx, done context.Context, after Position) (Position, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(done, cancel)()
	return n.Wait(ctx, after)
}

// Wait blocks until the head is above after or ctx is done.
func (n *HeadNotifier) Wait(ctx context.Context, after Position) (Position, error) {
	for {
		n.mu.Lock()
		head := n.head
		if head > after {
			n.mu.Unlock()
			return head, nil
		}
		if n.changed == nil {
			n.changed = make(chan struct{})
		}
		ch := n.changed
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return head, ctx.Err()
		}
	}
}
