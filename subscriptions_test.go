package sluice_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// WaitChange returns the position a NotifyMoved brings without reading the
// store again, and reads it again after any other wake-up.
func TestWaitChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		wake      func(s *sluice.Signals)
		stored    sluice.Position // the store's state once woken
		want      sluice.Position
		wantReads int
	}{
		{"moved ahead", func(s *sluice.Signals) { s.NotifyMoved("c", 9) }, 5, 9, 1},
		{"notify", func(s *sluice.Signals) { s.Notify("c") }, 7, 7, 2},
		{"moved behind", func(s *sluice.Signals) { s.NotifyMoved("c", 3) }, 8, 8, 2},
		{"notify all", func(s *sluice.Signals) { s.NotifyAll() }, 6, 6, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				s      sluice.Signals
				stored atomic.Uint64
				reads  atomic.Int32
				read   = make(chan struct{}, 10)
			)
			stored.Store(5)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			type result struct {
				p   sluice.Position
				err error
			}
			done := make(chan result, 1)
			go func() {
				p, err := sluice.WaitChange(ctx, &s, "c", 5, func(context.Context) (sluice.Position, error) {
					reads.Add(1)
					read <- struct{}{}
					return sluice.Position(stored.Load()), nil
				})
				done <- result{p, err}
			}()
			<-read // watching: the first read happens after the watch
			stored.Store(uint64(tt.stored))
			tt.wake(&s)
			res := <-done
			if res.err != nil || res.p != tt.want || int(reads.Load()) != tt.wantReads {
				t.Errorf("WaitChange = %d, %v after %d reads; want %d after %d", res.p, res.err, reads.Load(), tt.want, tt.wantReads)
			}
		})
	}

	t.Run("context ends", func(t *testing.T) {
		t.Parallel()
		var s sluice.Signals
		ctx, cancel := context.WithCancel(context.Background())
		s.Notify("c") // nobody waits yet: nothing to wake, nothing kept
		go cancel()
		p, err := sluice.WaitChange(ctx, &s, "c", 5, func(context.Context) (sluice.Position, error) { return 5, nil })
		if p != 5 || !errors.Is(err, context.Canceled) {
			t.Errorf("WaitChange = %d, %v; want 5, context.Canceled", p, err)
		}
	})
}
