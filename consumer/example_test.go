package consumer_test

import (
	"context"
	"fmt"
	"os"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/consumer"
	"github.com/sluicehq/sluice/sqlite"
)

// A consumer in the process: it handles the orders after its checkpoint,
// moves the checkpoint after each batch, and holds a lease so that, of all
// the processes sharing the store, one runs it at a time. A sink is built
// the same way.
func ExampleConsumer() {
	dir, _ := os.MkdirTemp("", "sluice-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	_, err = store.Append(ctx, []sluice.AppendRequest{{Events: []sluice.Event{
		{Type: "order.placed", Stream: "order-1", Data: []byte(`{"total":12}`)},
		{Type: "page.viewed", Data: []byte(`{"url":"/"}`)},
		{Type: "order.placed", Stream: "order-2", Data: []byte(`{"total":30}`)},
	}}})
	if err != nil {
		panic(err)
	}

	ctx, stop := context.WithCancel(ctx)
	c := &consumer.Consumer{
		Store:  store,
		Name:   "order-totals",
		Holder: "example", // this process, e.g. hostname-pid
		Filter: sluice.Filter{Category: "order"},
		Handle: func(_ context.Context, evs []sluice.Event) error {
			for _, e := range evs {
				fmt.Printf("%s at %d: %s\n", e.Stream, e.Position, e.Data)
				if e.Stream == "order-2" {
					stop() // caught up, for the example; a service runs until shutdown
				}
			}
			return nil
		},
	}
	err = c.Run(ctx)
	checkpoint, _ := store.Checkpoint(context.Background(), "order-totals")
	fmt.Println(err, "checkpoint", checkpoint)
	// Output:
	// order-1 at 1: {"total":12}
	// order-2 at 3: {"total":30}
	// context canceled checkpoint 3
}
