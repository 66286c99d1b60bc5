package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/testutil"
)

func testCheckpoints(t *testing.T, open Opener, _ Features) {
	s := open(t)
	ctx := ctxFor(t)
	if p, err := s.Checkpoint(ctx, "proj"); err != nil || p != 0 {
		t.Fatalf("new consumer at %d (%v), want 0", p, err)
	}
	steps := []struct {
		old, new sluice.Position
		ok       bool
	}{
		{5, 7, false}, // a consumer without a checkpoint is at 0
		{0, 5, true},
		{0, 7, false},
		{5, 9, true},
		{5, 11, false},
		{9, 9, true},
	}
	for _, st := range steps {
		err := s.SetCheckpoint(ctx, "proj", st.old, st.new)
		if st.ok && err != nil {
			t.Fatalf("%d→%d: %v", st.old, st.new, err)
		}
		if !st.ok && !errors.Is(err, sluice.ErrCheckpointConflict) {
			t.Fatalf("%d→%d: got %v, want ErrCheckpointConflict", st.old, st.new, err)
		}
	}
	if p, err := s.Checkpoint(ctx, "proj"); err != nil || p != 9 {
		t.Fatalf("checkpoint %d (%v), want 9", p, err)
	}
	if p, err := s.Checkpoint(ctx, "other"); err != nil || p != 0 {
		t.Fatalf("another consumer at %d (%v), want 0", p, err)
	}
}

func testLeases(t *testing.T, open Opener, f Features) {
	a := open(t)
	b := a
	if f.SharedAccess {
		b = open(t)
	}
	ctx := ctxFor(t)
	la, err := a.AcquireLease(ctx, "sink-s3", "node-a", time.Minute)
	if err != nil || la.Holder != "node-a" || time.Until(la.Expires) < 30*time.Second {
		t.Fatalf("first acquire: %+v %v", la, err)
	}
	_, err = b.AcquireLease(ctx, "sink-s3", "node-b", time.Minute)
	var held *sluice.LeaseHeldError
	if !errors.As(err, &held) || !errors.Is(err, sluice.ErrLeaseHeld) || held.Holder != "node-a" {
		t.Fatalf("second holder: got %v, want a *LeaseHeldError naming node-a", err)
	}
	if _, err := a.AcquireLease(ctx, "sink-s3", "node-a", time.Minute); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if _, err := b.AcquireLease(ctx, "sink-kafka", "node-b", time.Minute); err != nil {
		t.Fatalf("another lease: %v", err)
	}
	if err := b.ReleaseLease(ctx, "sink-s3", "node-b"); err != nil {
		t.Fatalf("release by a non-holder: %v", err)
	}
	if err := a.ReleaseLease(ctx, "sink-s3", "node-a"); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, err := b.AcquireLease(ctx, "sink-s3", "node-b", 50*time.Millisecond); err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	// An expired lease goes to whoever asks.
	testutil.Eventually(t, 10*time.Second, func() bool {
		_, err := a.AcquireLease(ctx, "sink-s3", "node-a", time.Minute)
		return err == nil
	}, "node-a takes over the expired lease")
}
