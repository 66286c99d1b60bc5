package storetest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func testSubscriptions(t *testing.T, open Opener, _ Features) {
	s := open(t)
	ctx := ctxFor(t)
	orders := sluice.Subscription{Name: "orders", Filter: sluice.Filter{Types: []string{"order.placed"}}, Start: 5}
	consumer := orders.ConsumerName()

	first := putSubscription(t, s, orders, true)
	if first.Name != orders.Name || !reflect.DeepEqual(first.Filter, orders.Filter) || first.Start != 5 {
		t.Fatalf("created %+v, want %+v", first, orders)
	}
	if since := time.Since(first.CreatedAt); since < -time.Minute || since > time.Minute || !first.UpdatedAt.Equal(first.CreatedAt) {
		t.Fatalf("created at %v, updated at %v: want both now", first.CreatedAt, first.UpdatedAt)
	}
	wantCheckpoint(t, s, consumer, 5)
	if got := getSubscription(t, s, "orders"); !sameSubscription(got, first) {
		t.Fatalf("read %+v, want %+v", got, first)
	}

	// Put again: the filter is replaced; Start, and the checkpoint and the
	// lease of the subscriber running meanwhile, are kept.
	if err := s.SetCheckpoint(ctx, consumer, 5, 9); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(ctx, consumer, "node-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	changed := sluice.Subscription{Name: "orders", Filter: sluice.Filter{Category: "order"}, Start: 1}
	second := putSubscription(t, s, changed, false)
	if !reflect.DeepEqual(second.Filter, changed.Filter) || second.Start != 5 || !second.CreatedAt.Equal(first.CreatedAt) || second.UpdatedAt.Before(first.UpdatedAt) {
		t.Fatalf("updated %+v, was %+v: want the new filter, the old Start and CreatedAt", second, first)
	}
	wantCheckpoint(t, s, consumer, 9)
	if _, err := s.AcquireLease(ctx, consumer, "node-b", time.Minute); !errors.Is(err, sluice.ErrLeaseHeld) {
		t.Fatalf("lease after an update: %v, want it still held", err)
	}
	if got := getSubscription(t, s, "orders"); !sameSubscription(got, second) {
		t.Fatalf("read %+v, want %+v", got, second)
	}

	if _, err := s.Subscription(ctx, "missing"); !errors.Is(err, sluice.ErrSubscriptionNotFound) {
		t.Fatalf("missing subscription: %v, want ErrSubscriptionNotFound", err)
	}
	for _, name := range []string{"", "has space", "a/b", strings.Repeat("x", 129)} {
		if _, _, err := s.PutSubscription(ctx, sluice.Subscription{Name: name}); err == nil || errors.Is(err, sluice.ErrUnavailable) {
			t.Fatalf("name %q: %v, want it rejected", name, err)
		}
	}

	// Listing pages in name order (byte order: upper case first).
	for _, name := range []string{"b", "a", "Z", "c"} {
		putSubscription(t, s, sluice.Subscription{Name: name}, true)
	}
	var names []string
	for after := ""; ; {
		page, err := s.ListSubscriptions(ctx, after, 2)
		if err != nil {
			t.Fatalf("list after %q: %v", after, err)
		}
		if len(page) > 2 {
			t.Fatalf("list after %q: %d subscriptions, limit 2", after, len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, sub := range page {
			names = append(names, sub.Name)
		}
		after = page[len(page)-1].Name
	}
	if want := []string{"Z", "a", "b", "c", "orders"}; !equal(names, want) {
		t.Fatalf("listed %q, want %q", names, want)
	}

	// Delete takes the checkpoint and the lease with it.
	if err := s.DeleteSubscription(ctx, "orders"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.Subscription(ctx, "orders"); !errors.Is(err, sluice.ErrSubscriptionNotFound) {
		t.Fatalf("deleted subscription: %v, want ErrSubscriptionNotFound", err)
	}
	wantCheckpoint(t, s, consumer, 0)
	if _, err := s.AcquireLease(ctx, consumer, "node-b", time.Minute); err != nil {
		t.Fatalf("lease of a deleted subscription: %v, want it free", err)
	}
	if err := s.DeleteSubscription(ctx, "orders"); !errors.Is(err, sluice.ErrSubscriptionNotFound) {
		t.Fatalf("delete again: %v, want ErrSubscriptionNotFound", err)
	}

	// Created again, it starts at its new Start, whatever checkpoint and
	// lease its name had.
	if err := s.SetCheckpoint(ctx, consumer, 0, 40); err != nil {
		t.Fatal(err)
	}
	again := putSubscription(t, s, sluice.Subscription{Name: "orders", Start: 3}, true)
	if again.Start != 3 {
		t.Fatalf("recreated %+v, want Start 3", again)
	}
	wantCheckpoint(t, s, consumer, 3)
	if _, err := s.AcquireLease(ctx, consumer, "node-c", time.Minute); err != nil {
		t.Fatalf("lease of a recreated subscription: %v, want it free", err)
	}
}

func testWaitCheckpoint(t *testing.T, open Opener, f Features) {
	s := open(t)
	ctx := ctxFor(t)
	// A waiter that only Close wakes, started first so that it waits
	// before the store closes at the end.
	closed := make(chan error, 1)
	go func() {
		_, err := s.WaitCheckpoint(ctx, "idle", 0)
		closed <- err
	}()

	if err := s.SetCheckpoint(ctx, "proj", 0, 3); err != nil {
		t.Fatal(err)
	}
	if p, err := s.WaitCheckpoint(ctx, "proj", 1); err != nil || p != 3 {
		t.Fatalf("wait away from the checkpoint: %d %v, want 3 at once", p, err)
	}
	if p, err := s.WaitCheckpoint(ctx, "none", 5); err != nil || p != 0 {
		t.Fatalf("wait on a consumer without a checkpoint: %d %v, want 0 at once", p, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.WaitCheckpoint(short, "proj", 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait at the checkpoint with nothing written: %v, want the context's deadline", err)
	}

	// The writer wakes its own waiters and, with shared access, those of
	// the first Store: another process.
	writer := s
	if f.SharedAccess {
		writer = open(t)
	}
	waitFor := func(name string, at sluice.Position) <-chan sluice.Position {
		woke := make(chan sluice.Position, 2)
		for _, w := range []sluice.Store{s, writer} {
			go func() {
				p, err := w.WaitCheckpoint(ctx, name, at)
				if err != nil {
					t.Errorf("wait for %q to leave %d: %v", name, at, err)
				}
				woke <- p
			}()
		}
		return woke
	}
	expect := func(woke <-chan sluice.Position, want sluice.Position, what string) {
		t.Helper()
		for range 2 {
			select {
			case p := <-woke:
				if p != want {
					t.Fatalf("%s: woken at %d, want %d", what, p, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: a waiter not woken within 10s", what)
			}
		}
	}
	woke := waitFor("proj", 3)
	if err := writer.SetCheckpoint(ctx, "proj", 3, 4); err != nil {
		t.Fatal(err)
	}
	expect(woke, 4, "set checkpoint")

	sub := sluice.Subscription{Name: "orders", Start: 6}
	woke = waitFor(sub.ConsumerName(), 0)
	if _, _, err := writer.PutSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	expect(woke, 6, "create subscription")
	woke = waitFor(sub.ConsumerName(), 6)
	if err := writer.DeleteSubscription(ctx, sub.Name); err != nil {
		t.Fatal(err)
	}
	expect(woke, 0, "delete subscription")

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if !errors.Is(err, sluice.ErrClosed) {
			t.Fatalf("wait across close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close did not wake the waiter within 10s")
	}
}

// putSubscription puts sub and fails the test unless it succeeds and
// created is as wanted.
func putSubscription(tb testing.TB, s sluice.Store, sub sluice.Subscription, wantCreated bool) sluice.Subscription {
	tb.Helper()
	got, created, err := s.PutSubscription(ctxFor(tb), sub)
	if err != nil {
		tb.Fatalf("put subscription %q: %v", sub.Name, err)
	}
	if created != wantCreated {
		tb.Fatalf("put subscription %q: created %t, want %t", sub.Name, created, wantCreated)
	}
	return got
}

func getSubscription(tb testing.TB, s sluice.Store, name string) sluice.Subscription {
	tb.Helper()
	sub, err := s.Subscription(ctxFor(tb), name)
	if err != nil {
		tb.Fatalf("subscription %q: %v", name, err)
	}
	return sub
}

func wantCheckpoint(tb testing.TB, s sluice.Store, name string, want sluice.Position) {
	tb.Helper()
	if p, err := s.Checkpoint(ctxFor(tb), name); err != nil || p != want {
		tb.Fatalf("checkpoint %q at %d (%v), want %d", name, p, err, want)
	}
}

// sameSubscription compares subscriptions field by field, the times as
// instants.
func sameSubscription(a, b sluice.Subscription) bool {
	return a.Name == b.Name && reflect.DeepEqual(a.Filter, b.Filter) && a.Start == b.Start &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}
