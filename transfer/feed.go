package transfer

import (
	"context"
	"io"
	"sync"
)

// Feed hands out the batches that a source's readers make in goroutines
// of their own (a table's segments, a stream's shards).
type Feed struct {
	// Run reads and gives each batch to send, which fails once the
	// reading is to stop; it is started by the first Next, with a context
	// that Close cancels.
	Run func(ctx context.Context, send func(Batch) error) error

	once    sync.Once
	batches chan Batch
	err     error // Run's, once batches is closed
	cancel  context.CancelFunc
}

// Next returns the next batch, Run's error after the last, or io.EOF.
func (f *Feed) Next(ctx context.Context) (Batch, error) {
	f.once.Do(func() {
		var rctx context.Context
		rctx, f.cancel = context.WithCancel(ctx)
		f.batches = make(chan Batch, 4)
		go func() {
			defer close(f.batches)
			f.err = f.Run(rctx, func(b Batch) error {
				select {
				case f.batches <- b:
					return nil
				case <-rctx.Done():
					return rctx.Err()
				}
			})
		}()
	})
	select {
	case b, ok := <-f.batches:
		if ok {
			return b, nil
		}
	case <-ctx.Done():
		return Batch{}, ctx.Err()
	}
	if f.err != nil {
		return Batch{}, f.err
	}
	return Batch{}, io.EOF
}

// Close stops Run and waits for it to end.
func (f *Feed) Close() {
	if f.cancel != nil {
		f.cancel()
		for range f.batches {
		}
	}
}
