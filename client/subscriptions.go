package client

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
)

// Start is where a new subscription begins: Beginning (the zero value),
// End, or After(p).
type Start struct {
	end   bool
	after sluice.Position
}

var (
	// Beginning delivers the whole log, from its first event.
	Beginning = Start{}
	// End delivers the events committed after the subscription is
	// created.
	End = Start{end: true}
)

// After delivers the events after p, as if everything up to and including
// p had been processed. After(0) is Beginning.
func After(p sluice.Position) Start { return Start{after: p} }

// String is the form of the HTTP API: "beginning", "end" or the position.
func (s Start) String() string {
	switch {
	case s.end:
		return "end"
	case s.after > 0:
		return strconv.FormatUint(uint64(s.after), 10)
	}
	return "beginning"
}

// MarshalJSON writes "beginning", "end" or the position as a number.
func (s Start) MarshalJSON() ([]byte, error) {
	if !s.end && s.after > 0 {
		return []byte(s.String()), nil
	}
	return json.Marshal(s.String())
}

// SubscriptionOptions defines a subscription.
type SubscriptionOptions struct {
	// Filter selects the events delivered; the others count as processed.
	// The zero Filter delivers every event.
	Filter sluice.Filter
	// Start is where a new subscription begins; it is ignored when the
	// subscription exists (its checkpoint is kept). Default Beginning.
	Start Start
}

// SubscriptionState is a subscription as the server reports it.
type SubscriptionState struct {
	Name   string
	Filter sluice.Filter
	// Start is the checkpoint the subscription was created with.
	Start sluice.Position
	// Checkpoint: every event up to it has been processed (acknowledged,
	// or skipped by the filter).
	Checkpoint sluice.Position
	// Head is the log's last position.
	Head sluice.Position
	// LagEvents counts the events after the checkpoint, those the filter
	// skips included.
	LagEvents uint64
	// Lag is the age of the first event after the checkpoint; 0 when there
	// is none.
	Lag time.Duration
	// Hold is how long the oldest batch delivered and not yet acknowledged
	// has waited; 0 when none waits.
	Hold      time.Duration
	CreatedAt time.Time
	UpdatedAt time.Time
}

// subscriptionState is the JSON of a SubscriptionState.
type subscriptionState struct {
	Name        string          `json:"name"`
	Filter      sluice.Filter   `json:"filter"`
	Start       sluice.Position `json:"start"`
	Checkpoint  sluice.Position `json:"checkpoint"`
	Head        sluice.Position `json:"head"`
	LagEvents   uint64          `json:"lag_events"`
	LagSeconds  float64         `json:"lag_seconds"`
	HoldSeconds float64         `json:"hold_seconds"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func (s subscriptionState) state() SubscriptionState {
	return SubscriptionState{
		Name:       s.Name,
		Filter:     s.Filter,
		Start:      s.Start,
		Checkpoint: s.Checkpoint,
		Head:       s.Head,
		LagEvents:  s.LagEvents,
		Lag:        seconds(s.LagSeconds),
		Hold:       seconds(s.HoldSeconds),
		CreatedAt:  s.CreatedAt,
		UpdatedAt:  s.UpdatedAt,
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// subscriptionPath is the path of the subscription name, or of its part
// sub ("/events").
func subscriptionPath(name, sub string) (string, error) {
	escaped, err := escape("subscription", name)
	return "/v1/subscriptions/" + escaped + sub, err
}

// PutSubscription creates the subscription name (PUT /v1/subscriptions/{name}),
// or, when it exists, replaces its filter and keeps its checkpoint. Calling
// it at every start of a projection is the usual way to make sure the
// subscription exists.
func (c *Client) PutSubscription(ctx context.Context, name string, sub SubscriptionOptions) (SubscriptionState, error) {
	body, err := json.Marshal(struct {
		Filter sluice.Filter `json:"filter"`
		Start  Start         `json:"start"`
	}{sub.Filter, sub.Start})
	if err != nil {
		return SubscriptionState{}, err
	}
	path, err := subscriptionPath(name, "")
	if err != nil {
		return SubscriptionState{}, err
	}
	var st subscriptionState
	_, err = c.do(ctx, call{method: http.MethodPut, path: path, body: body, ok: []int{http.StatusCreated, http.StatusOK}}, &st)
	return st.state(), err
}

// GetSubscription returns the state of the subscription name; an error
// for which errors.Is(err, sluice.ErrSubscriptionNotFound) holds when
// there is none.
func (c *Client) GetSubscription(ctx context.Context, name string) (SubscriptionState, error) {
	path, err := subscriptionPath(name, "")
	if err != nil {
		return SubscriptionState{}, err
	}
	var st subscriptionState
	_, err = c.do(ctx, call{method: http.MethodGet, path: path, ok: []int{http.StatusOK}}, &st)
	return st.state(), err
}

// SubscriptionList is one page of subscriptions.
type SubscriptionList struct {
	// Subscriptions in name order.
	Subscriptions []SubscriptionState
	// NextAfter is the after of the next page; "" when this is the last.
	NextAfter string
}

// ListSubscriptions lists the subscriptions whose names sort after the
// name after, at most limit (0: the server's default, 100) at a time.
func (c *Client) ListSubscriptions(ctx context.Context, after string, limit int) (SubscriptionList, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var answer struct {
		Subscriptions []subscriptionState `json:"subscriptions"`
		NextAfter     string              `json:"next_after"`
		Next          *string             `json:"next"` // the next page's URL, from servers that send it
	}
	if _, err := c.do(ctx, call{method: http.MethodGet, path: "/v1/subscriptions", query: q, ok: []int{http.StatusOK}}, &answer); err != nil {
		return SubscriptionList{}, err
	}
	list := SubscriptionList{NextAfter: answer.NextAfter}
	for _, st := range answer.Subscriptions {
		list.Subscriptions = append(list.Subscriptions, st.state())
	}
	if list.NextAfter == "" && answer.Next != nil {
		nq, err := queryOf(*answer.Next)
		if err != nil {
			return SubscriptionList{}, err
		}
		list.NextAfter = nq.Get("after")
	}
	return list, nil
}

// DeleteSubscription removes the subscription name with its checkpoint.
func (c *Client) DeleteSubscription(ctx context.Context, name string) error {
	path, err := subscriptionPath(name, "")
	if err != nil {
		return err
	}
	_, err = c.do(ctx, call{method: http.MethodDelete, path: path, ok: []int{http.StatusNoContent, http.StatusOK}}, nil)
	return err
}

// FetchOptions shape one Fetch.
type FetchOptions struct {
	// Limit is the most events to return. Default (0) the server's, 100;
	// at most 1000.
	Limit int
	// Wait is how long the server waits for events when there are none
	// (a long poll); 0 answers at once. At most 60s.
	Wait time.Duration
	// Reader names the reader. One reader holds a subscription at a time;
	// another gets an error for which errors.Is(err, ErrSubscriptionBusy)
	// holds until the holder has neither read nor acknowledged for the
	// server's reader TTL (30s by default). Default: the key's name.
	Reader string
}

// Batch is what Fetch returns.
type Batch struct {
	// Events are the next events after the checkpoint that the filter
	// keeps, in log order.
	Events []sluice.Event
	// Position is what to acknowledge once Events are processed: every
	// event up to it was delivered or skipped by the filter. It may be
	// above the last event's position, and above Checkpoint even when
	// there are no events (the filter skipped some).
	Position sluice.Position
	// Checkpoint is the subscription's checkpoint the batch was read
	// after.
	Checkpoint sluice.Position
}

// Fetch returns the next events of the subscription name after its
// checkpoint (GET /v1/subscriptions/{name}/events). Until they are
// acknowledged (Ack with the batch's Position), Fetch returns them again.
// Subscribe is the loop of Fetch, handle and Ack that most programs want.
func (c *Client) Fetch(ctx context.Context, name string, opts FetchOptions) (Batch, error) {
	path, err := subscriptionPath(name, "/events")
	if err != nil {
		return Batch{}, err
	}
	return c.batch(ctx, call{method: http.MethodGet, path: path, query: opts.query("limit")})
}

// AckAndFetch acknowledges position for opts.Reader, as Ack does, and
// returns the next batch, as Fetch does, in one round trip (POST
// /v1/subscriptions/{name}/ack?next=…). When it fails, whether the
// acknowledgement took is unknown: acknowledging the same position again
// is harmless.
func (c *Client) AckAndFetch(ctx context.Context, name string, position sluice.Position, opts FetchOptions) (Batch, error) {
	path, err := subscriptionPath(name, "/ack")
	if err != nil {
		return Batch{}, err
	}
	opts.Limit = cmp.Or(opts.Limit, defaultBatchSize)
	return c.batch(ctx, call{method: http.MethodPost, path: path, query: opts.query("next"), body: positionBody(position)})
}

// query is the query of a read of opts, the limit named limitName.
func (opts FetchOptions) query(limitName string) url.Values {
	q := url.Values{}
	if opts.Limit > 0 {
		q.Set(limitName, strconv.Itoa(opts.Limit))
	}
	if opts.Wait > 0 {
		q.Set("wait", opts.Wait.String())
	}
	if opts.Reader != "" {
		q.Set("reader", opts.Reader)
	}
	return q
}

// batch makes call and decodes the batch it answers.
func (c *Client) batch(ctx context.Context, cl call) (Batch, error) {
	var answer struct {
		Events     []sluice.Event  `json:"events"`
		Position   sluice.Position `json:"position"`
		Checkpoint sluice.Position `json:"checkpoint"`
	}
	cl.ok = []int{http.StatusOK}
	_, err := c.do(ctx, cl, &answer)
	return Batch(answer), err
}

// positionBody is the body of an acknowledgement.
func positionBody(p sluice.Position) []byte {
	return []byte(`{"position":` + strconv.FormatUint(uint64(p), 10) + `}`)
}

// Ack moves the checkpoint of the subscription name to position (POST
// /v1/subscriptions/{name}/ack) for reader ("": the key's name), and
// returns the checkpoint. A position behind the checkpoint changes
// nothing; one beyond the log's head is an error (code invalid_position).
func (c *Client) Ack(ctx context.Context, name, reader string, position sluice.Position) (sluice.Position, error) {
	q := url.Values{}
	if reader != "" {
		q.Set("reader", reader)
	}
	body := positionBody(position)
	var answer struct {
		Checkpoint sluice.Position `json:"checkpoint"`
	}
	path, err := subscriptionPath(name, "/ack")
	if err != nil {
		return 0, err
	}
	_, err = c.do(ctx, call{method: http.MethodPost, path: path, query: q, body: body, ok: []int{http.StatusOK}}, &answer)
	return answer.Checkpoint, err
}

// Release gives the subscription up if reader holds it, so that another
// reader can take it at once instead of when its lease expires (the
// server's reader TTL, 30s, after reader's last call). Subscribe releases
// when it returns.
func (c *Client) Release(ctx context.Context, name, reader string) error {
	q := url.Values{}
	if reader != "" {
		q.Set("reader", reader)
	}
	path, err := subscriptionPath(name, "/reader")
	if err != nil {
		return err
	}
	_, err = c.do(ctx, call{method: http.MethodDelete, path: path, query: q, ok: []int{http.StatusNoContent}}, nil)
	return err
}

// maxWait is the longest wait the server takes in one request.
const maxWait = 60 * time.Second

// Wait returns nil once the subscription name has processed everything up
// to position (the events its filter skips count as processed): the
// read-your-writes of a projection, with the position that Append or
// Ingest returned. When timeout passes first it returns an error for which
// errors.Is(err, ErrWaitTimeout) holds. A timeout of 0 is the server's
// default, 5s; one longer than the server's limit (60s) is waited in
// several requests.
func (c *Client) Wait(ctx context.Context, name string, position sluice.Position, timeout time.Duration) error {
	if timeout <= maxWait {
		return c.wait(ctx, name, position, timeout)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := c.wait(ctx, name, position, min(time.Until(deadline), maxWait))
		if !errors.Is(err, ErrWaitTimeout) || time.Until(deadline) <= 0 {
			return err
		}
	}
}

// wait is one GET /v1/subscriptions/{name}/wait; timeout <= 0 leaves it to
// the server.
func (c *Client) wait(ctx context.Context, name string, position sluice.Position, timeout time.Duration) error {
	q := url.Values{"position": {strconv.FormatUint(uint64(position), 10)}}
	if timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	path, err := subscriptionPath(name, "/wait")
	if err != nil {
		return err
	}
	_, err = c.do(ctx, call{method: http.MethodGet, path: path, query: q, ok: []int{http.StatusOK}}, nil)
	return err
}
