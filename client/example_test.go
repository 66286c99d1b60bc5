package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
)

func ExampleNew() {
	url, key := exampleServer() // "http://127.0.0.1:7070" and a key of the server's configuration

	c := client.New(url, client.WithKey(key))
	page, err := c.ReadLog(context.Background(), 0, sluice.Filter{}, 10)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(page.Events), "events in the log")
	// Output:
	// 0 events in the log
}

func ExampleClient_Ingest() {
	url, key := exampleServer()
	c := client.New(url, client.WithKey(key))

	res, err := c.Ingest(context.Background(), []sluice.Event{
		{ID: "evt-1", Type: "page.viewed", Data: json.RawMessage(`{"path": "/pricing"}`)},
		{ID: "evt-1", Type: "page.viewed", Data: json.RawMessage(`{"path": "/pricing"}`)}, // sent twice
		{ID: "evt-2", Type: "page viewed", Data: json.RawMessage(`{"path": "/"}`)},        // a bad type
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("accepted %d, duplicates %d, up to position %d\n", res.Accepted, res.Duplicates, res.Position)
	for _, r := range res.Rejected {
		fmt.Printf("rejected event %d (%s): %s\n", r.Index, r.ID, r.Errors[0].Path)
	}
	// Output:
	// accepted 1, duplicates 1, up to position 1
	// rejected event 2 (evt-2): /type
}

func ExampleClient_Append() {
	url, key := exampleServer()
	c := client.New(url, client.WithKey(key))
	ctx := context.Background()

	placed := sluice.Event{Type: "order.placed", Data: json.RawMessage(`{"total": 42}`)}
	res, err := c.Append(ctx, "order-1", sluice.NoStream, placed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("order-1 at version %d, position %d\n", res.Version, res.Position)

	paid := sluice.Event{Type: "order.paid", Data: json.RawMessage(`{}`)}
	if _, err := c.Append(ctx, "order-1", sluice.ExactVersion(res.Version), paid); err != nil {
		log.Fatal(err)
	}

	// A writer that still believes the order is at version 1 is refused.
	cancelled := sluice.Event{Type: "order.cancelled", Data: json.RawMessage(`{}`)}
	_, err = c.Append(ctx, "order-1", sluice.ExactVersion(res.Version), cancelled)
	var conflict *sluice.WrongExpectedVersionError
	if errors.As(err, &conflict) {
		fmt.Printf("conflict: order-1 is at version %d\n", conflict.Current)
	}
	// Output:
	// order-1 at version 1, position 1
	// conflict: order-1 is at version 2
}

// A projection keeps a read model, here a table of orders by status, up to
// date from a durable subscription. Delivery is at-least-once, so the
// handler skips events it has applied already (by each order's version).
func Example_projection() {
	url, key := exampleServer()
	c := client.New(url, client.WithKey(key))
	ctx := context.Background()

	// Orders are placed, paid and shipped.
	var last client.AppendResult
	for _, e := range []struct{ order, typ string }{
		{"order-1", "order.placed"}, {"order-2", "order.placed"}, {"order-1", "order.paid"},
		{"order-3", "order.placed"}, {"order-1", "order.shipped"}, {"order-2", "order.paid"},
	} {
		var err error
		last, err = c.Append(ctx, e.order, sluice.AnyVersion, sluice.Event{Type: e.typ, Data: json.RawMessage(`{}`)})
		if err != nil {
			log.Fatal(err)
		}
	}

	// The read model: each order's status, and the version that set it.
	var (
		mu      sync.Mutex
		status  = map[string]string{}
		applied = map[string]uint64{}
	)
	project := func(ctx context.Context, events []sluice.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e.Version <= applied[e.Stream] {
				continue // delivered again: applied already
			}
			status[e.Stream] = strings.TrimPrefix(e.Type, "order.")
			applied[e.Stream] = e.Version
		}
		return nil
	}

	// The subscription is created once, at the beginning of the log; later
	// starts resume from its checkpoint.
	sub := client.SubscriptionOptions{Filter: sluice.Filter{Category: "order"}, Start: client.Beginning}
	if _, err := c.PutSubscription(ctx, "orders-by-status", sub); err != nil {
		log.Fatal(err)
	}
	run, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Subscribe(run, "orders-by-status", project) }()

	// Wait for the projection to catch up with the last order event.
	if err := c.Wait(ctx, "orders-by-status", last.Position, 5*time.Second); err != nil {
		log.Fatal(err)
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}

	mu.Lock()
	byStatus := map[string][]string{}
	for order, s := range status {
		byStatus[s] = append(byStatus[s], order)
	}
	mu.Unlock()
	for _, s := range slices.Sorted(maps.Keys(byStatus)) {
		slices.Sort(byStatus[s])
		fmt.Printf("%-8s %s\n", s, strings.Join(byStatus[s], ", "))
	}
	// Output:
	// paid     order-2
	// placed   order-3
	// shipped  order-1
}

// A command handler decides from a stream's events, appends under the
// version it read (a concurrent command for the same order cannot slip in
// between), then waits for the projection to cover what it wrote before it
// reads the projection: read-your-writes.
func Example_commandHandler() {
	url, key := exampleServer()
	c := client.New(url, client.WithKey(key))
	ctx := context.Background()

	// The projection, running in the background: each order's status.
	var mu sync.Mutex
	status := map[string]string{}
	if _, err := c.PutSubscription(ctx, "order-status", client.SubscriptionOptions{Filter: sluice.Filter{Category: "order"}}); err != nil {
		log.Fatal(err)
	}
	run, stop := context.WithCancel(ctx)
	defer stop()
	go c.Subscribe(run, "order-status", func(ctx context.Context, events []sluice.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			status[e.Stream] = strings.TrimPrefix(e.Type, "order.")
		}
		return nil
	})

	// pay is the command handler of "pay the order".
	pay := func(ctx context.Context, order string) (sluice.Position, error) {
		page, err := c.ReadStream(ctx, order, sluice.ReadStreamOptions{Backward: true, Limit: 1})
		if errors.Is(err, sluice.ErrStreamNotFound) {
			return 0, fmt.Errorf("%s: no such order", order)
		}
		if err != nil {
			return 0, err
		}
		latest := page.Events[0]
		if latest.Type != "order.placed" {
			return 0, fmt.Errorf("%s: cannot pay an order that is %s", order, strings.TrimPrefix(latest.Type, "order."))
		}
		paid := sluice.Event{Type: "order.paid", Data: json.RawMessage(`{}`)}
		res, err := c.Append(ctx, order, sluice.ExactVersion(latest.Version), paid)
		return res.Position, err
	}

	placed := sluice.Event{Type: "order.placed", Data: json.RawMessage(`{"total": 42}`)}
	if _, err := c.Append(ctx, "order-7", sluice.NoStream, placed); err != nil {
		log.Fatal(err)
	}
	position, err := pay(ctx, "order-7")
	if err != nil {
		log.Fatal(err)
	}
	// Read your write: the projection has handled the payment once Wait
	// returns.
	if err := c.Wait(ctx, "order-status", position, 5*time.Second); err != nil {
		log.Fatal(err)
	}
	mu.Lock()
	fmt.Println("order-7 is", status["order-7"])
	mu.Unlock()

	// Paying again is refused by the handler; a command that decided on
	// an older version is refused by the store.
	if _, err := pay(ctx, "order-7"); err != nil {
		fmt.Println(err)
	}
	cancelled := sluice.Event{Type: "order.cancelled", Data: json.RawMessage(`{}`)}
	if _, err := c.Append(ctx, "order-7", sluice.ExactVersion(1), cancelled); errors.Is(err, sluice.ErrWrongExpectedVersion) {
		fmt.Println("order-7 changed meanwhile; try again")
	}
	// Output:
	// order-7 is paid
	// order-7: cannot pay an order that is paid
	// order-7 changed meanwhile; try again
}
