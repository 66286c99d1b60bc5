package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// RetainStore is a Store that retention can trim.
type RetainStore interface {
	sluice.Store
	sluice.Retainer
}

// RunRetention checks a sluice.Retainer: it fills the log with at least
// three units of events (perEvents events per unit, in commits of batch),
// and with a max_age of a nanosecond and an archive consumer held back,
// nothing goes; once the archive has delivered everything, whole units go,
// readers before the edge get a *sluice.GoneError naming the first
// position, ReadLogFrom starts there, dedupe of young ids still works and
// appends go on. It returns the first position after the trim.
func RunRetention(t *testing.T, s RetainStore, perUnit, batch int) sluice.Position {
	t.Helper()
	ctx := ctxFor(t)
	const archive = "sink/archive"
	total := 3*perUnit + perUnit/2
	for n := 0; n < total; n += batch {
		evs := make([]sluice.Event, min(batch, total-n))
		for i := range evs {
			evs[i] = event("retained", fmt.Sprintf("r-%d", (n+i)%7), n+i)
			evs[i].ID = fmt.Sprintf("ret-%d", n+i)
		}
		appendOK(t, s, sluice.AppendRequest{Events: evs})
	}
	h := head(t, s)
	policy := sluice.RetentionPolicy{MaxAge: time.Nanosecond, Archives: []string{archive}}
	now := time.Now().Add(time.Second)

	t.Run("HeldByArchive", func(t *testing.T) {
		pass, err := sluice.Retain(ctx, s, policy, now)
		if err != nil {
			t.Fatal(err)
		}
		if pass.First != 1 || pass.HeldBy != archive || pass.Cut <= 1 {
			t.Fatalf("with the archive at 0: %+v, want first 1, held by %s, a cut past 1", pass, archive)
		}
		// Half way: only the units the archive has delivered go.
		if err := s.SetCheckpoint(ctx, archive, 0, h/2); err != nil {
			t.Fatal(err)
		}
		pass, err = sluice.Retain(ctx, s, policy, now)
		if err != nil {
			t.Fatal(err)
		}
		if pass.First > h/2+1 {
			t.Fatalf("archive at %d: the log starts at %d", h/2, pass.First)
		}
	})
	if err := s.SetCheckpoint(ctx, archive, h/2, h); err != nil {
		t.Fatal(err)
	}
	pass, err := sluice.Retain(ctx, s, policy, now)
	if err != nil {
		t.Fatal(err)
	}
	first := pass.First
	if first <= 1 || first > h {
		t.Fatalf("archive caught up: %+v, want a first position in 2–%d", pass, h)
	}
	got, err := s.FirstPosition(ctx)
	if err != nil || got != first {
		t.Fatalf("FirstPosition: %d, %v; Trim said %d", got, err, first)
	}

	t.Run("Gone", func(t *testing.T) {
		for _, after := range []sluice.Position{0, first - 2} {
			_, err := s.ReadLog(ctx, after, sluice.Filter{}, 10)
			var gone *sluice.GoneError
			if !errors.As(err, &gone) || !errors.Is(err, sluice.ErrGone) || gone.First != first {
				t.Errorf("ReadLog after %d: %v, want a GoneError at %d", after, err, first)
			}
		}
		evs, err := s.ReadLog(ctx, first-1, sluice.Filter{}, 1)
		if err != nil || len(evs) != 1 || evs[0].Position != first {
			t.Fatalf("ReadLog after %d: %v, %v", first-1, evs, err)
		}
		evs, skipped, err := sluice.ReadLogFrom(ctx, s, 0, sluice.Filter{}, 1)
		if err != nil || len(evs) != 1 || evs[0].Position != first || skipped != uint64(first-1) {
			t.Fatalf("ReadLogFrom 0: %v, %d skipped, %v", evs, skipped, err)
		}
	})
	t.Run("Dedupe", func(t *testing.T) {
		young := sluice.Event{ID: fmt.Sprintf("ret-%d", total-1), Type: "retained", Data: []byte(`{}`)}
		old := sluice.Event{ID: "ret-0", Type: "retained", Data: []byte(`{}`)}
		res := appendOK(t, s, sluice.AppendRequest{Events: []sluice.Event{young, old}})
		if a := res[0].Events[0]; !a.Duplicate || a.Position != h {
			t.Errorf("a young id again: %+v, want a duplicate of %d", a, h)
		}
		if a := res[0].Events[1]; a.Duplicate || a.Position != h+1 {
			t.Errorf("an id removed by retention again: %+v, want it stored at %d", a, h+1)
		}
		evs, err := s.ReadLog(ctx, h, sluice.Filter{}, 10)
		if err != nil || len(evs) != 1 || evs[0].ID != "ret-0" {
			t.Fatalf("read after the trim: %v, %v", evs, err)
		}
	})
	return first
}
