package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

var _ sluice.Sink = (*Sink)(nil)

// The headers of every record.
const (
	HeaderID       = "Sluice-Id"       // the event's id, to deduplicate by
	HeaderType     = "Sluice-Type"     // its type
	HeaderStream   = "Sluice-Stream"   // its stream
	HeaderPosition = "Sluice-Position" // its position in the log
	HeaderVersion  = "Sluice-Version"  // its version in its stream
)

// Sink produces records to one Kafka topic.
type Sink struct {
	client  *kgo.Client
	topic   string
	key     sink.Field
	timeout time.Duration
}

// errTimeout: the delivery's timeout passed before the record's answer
// came.
var errTimeout = errors.New("no answer within the timeout")

// Deliver produces the records, in order, and waits for every one's
// answer, within the timeout. A partition that fails fails its records
// that were in flight or buffered with it (franz-go keeps a partition
// gapless); the others are delivered.
func (s *Sink) Deliver(ctx context.Context, records []sluice.SinkRecord) error {
	if len(records) == 0 {
		return nil
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	recs := make([]kgo.Record, len(records))
	headers := make([]kgo.RecordHeader, 5*len(records))
	nums := make([]byte, 0, 40*len(records)) // the positions and versions
	errs := make([]error, len(records))
	var wg sync.WaitGroup
	wg.Add(len(records))
	for i := range records {
		r, e := &recs[i], records[i].Event
		start := len(nums)
		nums = strconv.AppendUint(nums, uint64(e.Position), 10)
		mid := len(nums)
		nums = strconv.AppendUint(nums, e.Version, 10)
		r.Headers = headers[5*i : 5*i+5 : 5*i+5]
		r.Headers[0] = kgo.RecordHeader{Key: HeaderID, Value: []byte(e.ID)}
		r.Headers[1] = kgo.RecordHeader{Key: HeaderType, Value: []byte(e.Type)}
		r.Headers[2] = kgo.RecordHeader{Key: HeaderStream, Value: []byte(e.Stream)}
		r.Headers[3] = kgo.RecordHeader{Key: HeaderPosition, Value: nums[start:mid:mid]}
		r.Headers[4] = kgo.RecordHeader{Key: HeaderVersion, Value: nums[mid:len(nums):len(nums)]}
		r.Topic, r.Partition = s.topic, -1 // the partitioner sets it
		r.Key = []byte(s.key.Value(e))
		r.Value = records[i].Body
		if r.Value == nil {
			r.Value = []byte{} // nil would be a tombstone, which compaction deletes
		}
		s.client.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				errs[i] = s.produceError(parent, r, err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	return sink.Outcome("kafka", errs)
}

// produceError says what failed for r: Permanent when no retry can
// deliver it.
func (s *Sink) produceError(parent context.Context, r *kgo.Record, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		err = fmt.Errorf("%w (%s)", errTimeout, s.timeout)
	}
	where := r.Topic
	if r.Partition >= 0 {
		where = fmt.Sprintf("%s[%d]", r.Topic, r.Partition)
	}
	err = fmt.Errorf("produce to %s: %w", where, err)
	if isPermanent(err) {
		return sluice.Permanent(err)
	}
	return err
}

// isPermanent reports whether err is a broker (or franz-go) refusing the
// record itself, which the same record sent again cannot change: too
// large, or invalid. Every other error is retryable, even those kerr says
// are not retriable: a topic that does not exist (yet), a missing
// authorization, failed authentication, an unsupported version are fixed
// by an operator, and must hold the records back behind the runner's
// breaker, not send the log to the dead letters in a second.
func isPermanent(err error) bool {
	for _, p := range permanentErrors {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}

var permanentErrors = []error{
	kerr.MessageTooLarge,    // larger than the topic's max.message.bytes, or the client's
	kerr.RecordListTooLarge, // likewise
	kerr.InvalidRecord,      // refused by the broker's validation (a compacted topic wants a key)
	kerr.InvalidTimestamp,   // outside the topic's message.timestamp.*.ms bounds
}

// Close closes the client: records still buffered fail.
func (s *Sink) Close() error {
	s.client.Close()
	return nil
}
