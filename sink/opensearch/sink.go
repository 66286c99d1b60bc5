package opensearch

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

// maxAnswer bounds how much of an answer the sink reads: filtered, a bulk
// answer takes about 25 bytes an item, 200 unfiltered (a proxy that drops
// the query).
const maxAnswer = 64 << 20

// Sink indexes records into OpenSearch with the _bulk API.
type Sink struct {
	url     string // …/_bulk
	index   indexPattern
	header  http.Header // of every request
	timeout time.Duration
	client  *http.Client
}

var _ sluice.Sink = (*Sink)(nil)

// Deliver indexes the records with one _bulk request: each record's body
// as the source of the document whose _id is the event's id, in the
// index the pattern names for the event's recorded time. It reports as
// failed, by index, the items OpenSearch answered with 408, 429 or 5xx
// (retryable) or another failing status (permanent), and records with an
// empty body (permanent, not sent).
func (s *Sink) Deliver(ctx context.Context, records []sluice.SinkRecord) error {
	size := 0
	for _, r := range records {
		size += len(r.Body) + len(r.Event.ID) + maxActionBytes
	}
	// A new body for each request: the transport may still read one
	// after Do returns (an answer that came before the whole request).
	body := make([]byte, 0, size)
	var failed []sluice.RecordError
	sent := make([]int, 0, len(records)) // the record of each action
	var index []byte
	for i, r := range records {
		if len(bytes.TrimSpace(r.Body)) == 0 {
			failed = append(failed, sluice.RecordError{Index: i, Err: sluice.Permanent(fmt.Errorf("event %s: an empty document", r.Event.ID))})
			continue
		}
		index = s.index.append(index[:0], r.Event.RecordedAt)
		body = appendAction(body, index, r.Event.ID)
		body = appendSource(body, r.Body)
		sent = append(sent, i)
	}
	if len(sent) == 0 {
		return &sluice.DeliveryError{Failed: failed}
	}
	results, retryAfter, err := s.bulk(ctx, body, len(sent))
	if err != nil {
		if len(failed) == 0 {
			return err
		}
		for _, i := range sent {
			failed = append(failed, sluice.RecordError{Index: i, Err: err})
		}
		sortByIndex(failed)
		return &sluice.DeliveryError{Failed: failed}
	}
	retryable := 0
	for j, res := range results {
		if res.Status < 300 {
			continue
		}
		e := itemFailure(records[sent[j]].Event.ID, res)
		if !sluice.IsPermanent(e) {
			e = sluice.RetryAfter(e, retryAfter)
			retryable++
		}
		failed = append(failed, sluice.RecordError{Index: sent[j], Err: e})
	}
	switch {
	case len(failed) == 0:
		return nil
	case retryable == len(records):
		// Nothing was indexed and all may pass: the destination failed
		// as a whole, which the circuit breaker counts.
		return fmt.Errorf("opensearch indexed none of the %d documents: %w", len(records), failed[0].Err)
	}
	sortByIndex(failed)
	return &sluice.DeliveryError{Failed: failed}
}

// bulk POSTs one _bulk request of n actions and returns each action's
// result, and the Retry-After of the answer, or the error of the whole
// request.
func (s *Sink) bulk(ctx context.Context, body []byte, n int) ([]itemResult, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, sluice.Permanent(fmt.Errorf("opensearch: %w", err))
	}
	for k, v := range s.header {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("opensearch: %w", err) // retried: the cluster may be down
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, 0, fmt.Errorf("opensearch: %s, reading the answer: %w", resp.Status, err)
	}
	after := sink.ParseRetryAfter(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusOK {
		return nil, 0, requestFailure(resp, answer, after)
	}
	results, err := parseBulkResponse(answer, n)
	if err != nil {
		// Retried: which documents were indexed is unknown, and
		// indexing one again replaces it.
		return nil, 0, sluice.RetryAfter(fmt.Errorf("opensearch: %w: %s", err, truncate(string(answer), maxErrorText)), after)
	}
	return results, after, nil
}

// maxActionBytes is the most an action line takes beside the id: the
// JSON around the index name and the id, and the index name.
const maxActionBytes = len(`{"index":{"_index":"","_id":""}}`) + 1 + maxIndexName

// itemFailure is the error of an item that failed: retryable for 408, 429
// (OpenSearch's queues are full) and 5xx, permanent for any other status
// (a mapping error, a document OpenSearch cannot parse).
func itemFailure(id string, res itemResult) error {
	err := fmt.Errorf("opensearch: event %s: %d", id, res.Status)
	if res.Error != nil {
		err = fmt.Errorf("%w %s", err, res.Error)
	}
	if retryableStatus(res.Status) {
		return err
	}
	return sluice.Permanent(err)
}

// retryableStatus reports whether a status may pass: 408, 429, 5xx.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// requestFailure is the error of a request that OpenSearch did not answer
// with 200. 408, 429 and 5xx are retried after their Retry-After; so are
// 401, 403 and 404, an operator's to fix (credentials, permissions, a
// URL's path), which hold the records back meanwhile. 413 and any other
// status (400: the request refused for what it holds) are permanent.
func requestFailure(resp *http.Response, answer []byte, after time.Duration) error {
	err := fmt.Errorf("opensearch: %s", resp.Status)
	if e := errorOf(answer); e != "" {
		err = fmt.Errorf("%w: %s", err, e)
	}
	switch code := resp.StatusCode; {
	case retryableStatus(code):
		return sluice.RetryAfter(err, after)
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound:
		return err
	case code == http.StatusRequestEntityTooLarge:
		return sluice.Permanent(fmt.Errorf("%w: lower the sink's batch.max_bytes (the cluster takes http.max_content_length a request)", err))
	case code >= 300 && code < 400:
		return sluice.Permanent(fmt.Errorf("%w: redirected to %q; point the sink's url there", err, resp.Header.Get("Location")))
	}
	return sluice.Permanent(err)
}

// errorOf is what an answer that is not a bulk answer says: the error
// object OpenSearch answers with ({"error": {"type", "reason"}, "status"}),
// or the beginning of the text (a proxy's).
func errorOf(answer []byte) string {
	var e struct {
		Error *itemError `json:"error"`
	}
	if json.Unmarshal(answer, &e) == nil && e.Error != nil {
		return e.Error.String()
	}
	return truncate(string(bytes.TrimSpace(answer)), maxErrorText)
}

// sortByIndex puts failures in batch order.
func sortByIndex(failed []sluice.RecordError) {
	slices.SortFunc(failed, func(a, b sluice.RecordError) int { return cmp.Compare(a.Index, b.Index) })
}

// Close releases the idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
