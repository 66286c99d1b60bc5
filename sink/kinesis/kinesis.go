package kinesis

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

// maxPartitionKey is the longest partition key Kinesis takes, in
// characters (counted here in bytes, which are never fewer).
const maxPartitionKey = 256

// Sink puts records into one Kinesis data stream.
type Sink struct {
	client            *awskinesis.Client
	transport         *http.Transport // the client's
	stream, streamARN *string
	key               sink.Field
	timeout           time.Duration // of one request
}

var _ sluice.Sink = (*Sink)(nil)

// Deliver puts the records into the stream, each record's body as its
// data, in as few PutRecords requests as the limits allow (one for any
// batch within them), one after the other. It reports as failed, by
// index, the records Kinesis answered with an ErrorCode (retryable), those
// too large with their partition key (permanent), and every record from
// the first request that failed as a whole.
func (s *Sink) Deliver(ctx context.Context, records []sluice.SinkRecord) error {
	var failed []sluice.RecordError
	entries := make([]types.PutRecordsRequestEntry, 0, len(records))
	index := make([]int, 0, len(records)) // the record of each entry
	for i, r := range records {
		key := partitionKey(s.key.Value(r.Event))
		if n := len(r.Body) + len(key); n > maxRecordBytes {
			failed = append(failed, sluice.RecordError{Index: i, Err: sluice.Permanent(fmt.Errorf(
				"event %s: %d bytes with its partition key, more than the %d a Kinesis record takes", r.Event.ID, n, maxRecordBytes))})
			continue
		}
		data := r.Body
		if data == nil {
			data = []byte{} // the SDK refuses a request with a nil Data
		}
		entries = append(entries, types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(key)})
		index = append(index, i)
	}
	for start := 0; start < len(entries); {
		end := requestEnd(entries, start)
		answers, err := s.put(ctx, entries[start:end])
		if err != nil {
			if start == 0 && end == len(entries) && len(failed) == 0 {
				return err // the batch's only request: nothing was delivered
			}
			for j, i := range index[start:] {
				e := err
				if start+j >= end {
					e = fmt.Errorf("not sent, after an earlier request of the batch failed: %v", err)
				}
				failed = append(failed, sluice.RecordError{Index: i, Err: e})
			}
			break
		}
		for j, i := range index[start:end] {
			if e := answerError(answers, j); e != nil {
				failed = append(failed, sluice.RecordError{Index: i, Err: e})
			}
		}
		start = end
	}
	if len(failed) == 0 {
		return nil
	}
	slices.SortFunc(failed, func(a, b sluice.RecordError) int { return cmp.Compare(a.Index, b.Index) })
	if len(failed) == len(records) && !slices.ContainsFunc(failed, func(f sluice.RecordError) bool { return sluice.IsPermanent(f.Err) }) {
		return fmt.Errorf("kinesis took none of the %d records: %w", len(records), failed[0].Err)
	}
	return &sluice.DeliveryError{Failed: failed}
}

// put sends one PutRecords request, within the sink's timeout.
func (s *Sink) put(ctx context.Context, entries []types.PutRecordsRequestEntry) ([]types.PutRecordsResultEntry, error) {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	out, err := s.client.PutRecords(rctx, &awskinesis.PutRecordsInput{Records: entries, StreamName: s.stream, StreamARN: s.streamARN})
	switch {
	case err == nil:
		return out.Records, nil
	case ctx.Err() == nil && rctx.Err() != nil:
		return nil, fmt.Errorf("put records: no answer within %s: %w", s.timeout, err)
	case isPermanent(err):
		return nil, sluice.Permanent(fmt.Errorf("put records: %w", err))
	}
	return nil, fmt.Errorf("put records: %w", err)
}

// isPermanent reports whether err is Kinesis refusing the request's
// content, which the same records sent again cannot change. Everything
// else is retryable: throttling, server errors, the network, and the
// errors of a stream, key or permission that an operator can fix
// (ResourceNotFoundException, AccessDeniedException, the KMS errors,
// expired or unknown credentials), which hold the records back instead of
// sending them to the dead letters at once.
func isPermanent(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "ValidationException", "InvalidArgumentException":
		return true
	}
	return false
}

// answerError returns the error of the j-th record of a request, nil when
// Kinesis stored it. Every ErrorCode is retryable: Kinesis answers
// ProvisionedThroughputExceededException or InternalFailure. A record
// that the answer does not mention was not stored.
func answerError(answers []types.PutRecordsResultEntry, j int) error {
	if j >= len(answers) {
		return errors.New("put records: the answer does not mention the record")
	}
	a := answers[j]
	if a.ErrorCode == nil {
		return nil
	}
	return fmt.Errorf("put records: %s: %s", *a.ErrorCode, aws.ToString(a.ErrorMessage))
}

// requestEnd returns where the request that starts at entries[start]
// ends: at most 500 records and 5 MiB of data and partition keys.
func requestEnd(entries []types.PutRecordsRequestEntry, start int) int {
	end, size := start, 0
	for end < len(entries) && end-start < maxRequestRecords {
		n := len(entries[end].Data) + len(*entries[end].PartitionKey)
		if size+n > maxRequestBytes && end > start {
			break
		}
		size += n
		end++
	}
	return end
}

// partitionKey returns key as Kinesis takes it. A key longer than 256
// bytes is replaced by its SHA-256 in hex: the records of one key still
// share a shard.
func partitionKey(key string) string {
	if len(key) <= maxPartitionKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Close closes the sink's idle connections.
func (s *Sink) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}
