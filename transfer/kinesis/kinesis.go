package kinesis

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/transfer"
)

// Options say what to read.
type Options struct {
	// Stream is the stream's name.
	Stream string
	// Since, when not zero, starts each shard at its first record at or
	// after it (AT_TIMESTAMP); zero: TRIM_HORIZON, the oldest kept.
	Since time.Time
	// CloudEvents: each record's data is a CloudEvent in the JSON format;
	// else an envelope or a stored event, as the Kinesis sink writes them.
	CloudEvents bool
	// AWS is the region, endpoint and credentials.
	AWS awsconf.Config
}

// Source reads a stream's shards.
type Source struct {
	o         Options
	client    *awskinesis.Client
	transport *http.Transport
	read      atomic.Int64

	feed transfer.Feed
}

var _ transfer.Source = (*Source)(nil)

// Open makes the client.
func Open(ctx context.Context, o Options) (*Source, error) {
	cfg, transport, err := o.AWS.Load(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("kinesis: %w", err)
	}
	c := awskinesis.NewFromConfig(cfg, func(opts *awskinesis.Options) {
		if o.AWS.Endpoint != "" {
			opts.BaseEndpoint = aws.String(o.AWS.Endpoint)
		}
	})
	s := &Source{o: o, client: c, transport: transport}
	s.feed.Run = s.run
	return s, nil
}

// Next returns the records of the next page of any shard.
func (s *Source) Next(ctx context.Context) (transfer.Batch, error) { return s.feed.Next(ctx) }

// shardEnd is how a shard's reading ended.
type shardEnd struct {
	id     string
	closed bool // read to its end: its children may start
	err    error
}

// run reads every shard, each child once its parents are closed and read,
// until no shard is left to start and none runs.
func (s *Source) run(ctx context.Context, send func(transfer.Batch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		started = map[string]bool{}
		closed  = map[string]bool{}
		running = 0
		ends    = make(chan shardEnd)
	)
	defer func() {
		for ; running > 0; running-- { // the readers end with ctx
			<-ends
		}
	}()
	for {
		shards, err := s.listShards(ctx)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, sh := range shards {
			known[aws.ToString(sh.ShardId)] = true
		}
		for _, sh := range shards {
			id := aws.ToString(sh.ShardId)
			if started[id] || !parentsRead(sh, known, closed) {
				continue
			}
			started[id] = true
			running++
			go func() {
				c, err := s.shard(ctx, id, send)
				ends <- shardEnd{id: id, closed: c, err: err}
			}()
		}
		if running == 0 {
			return nil
		}
		end := <-ends
		running--
		if end.err != nil {
			cancel()
			return end.err
		}
		closed[end.id] = end.closed
	}
}

// parentsRead reports whether each parent of sh that the stream still
// lists has been read to its end.
func parentsRead(sh types.Shard, known, closed map[string]bool) bool {
	for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
		if id := aws.ToString(p); id != "" && known[id] && !closed[id] {
			return false
		}
	}
	return true
}

// listShards lists every shard the stream keeps, closed ones too.
func (s *Source) listShards(ctx context.Context) ([]types.Shard, error) {
	var shards []types.Shard
	in := &awskinesis.ListShardsInput{StreamName: aws.String(s.o.Stream)}
	for {
		out, err := s.client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("kinesis: list the shards of %s: %w", s.o.Stream, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards, nil
		}
		in = &awskinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// shard reads one shard until its end (closed) or until it is caught up
// with the stream's tip.
func (s *Source) shard(ctx context.Context, id string, send func(transfer.Batch) error) (closed bool, err error) {
	in := &awskinesis.GetShardIteratorInput{StreamName: aws.String(s.o.Stream), ShardId: aws.String(id),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
	if !s.o.Since.IsZero() {
		in.ShardIteratorType, in.Timestamp = types.ShardIteratorTypeAtTimestamp, aws.Time(s.o.Since)
	}
	it, err := s.client.GetShardIterator(ctx, in)
	if err != nil {
		return false, fmt.Errorf("kinesis: %s shard %s: iterator: %w", s.o.Stream, id, err)
	}
	iter := it.ShardIterator
	for iter != nil {
		out, err := s.client.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			return false, fmt.Errorf("kinesis: %s shard %s: %w", s.o.Stream, id, err)
		}
		if len(out.Records) > 0 {
			if err := send(s.batch(id, out.Records)); err != nil {
				return false, err
			}
		}
		iter = out.NextShardIterator
		if iter != nil && len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return false, nil // caught up with an open shard
		}
	}
	return true, nil
}

// batch decodes a page of records.
func (s *Source) batch(shard string, records []types.Record) transfer.Batch {
	var b transfer.Batch
	for _, r := range records {
		n := s.read.Add(1)
		e, err := httpapi.DecodeLine(r.Data, s.o.CloudEvents)
		if err != nil {
			b.Rejects = append(b.Rejects, transfer.Reject{Where: fmt.Sprintf("kinesis %s shard %s sequence %s", s.o.Stream, shard, aws.ToString(r.SequenceNumber)),
				Reason: err.Error(), Record: r.Data})
			continue
		}
		if e.ID == "" {
			sum := sha256.Sum256([]byte(s.o.Stream + "\x00" + aws.ToString(r.SequenceNumber)))
			e.ID = "kin-" + hex.EncodeToString(sum[:16])
		}
		b.Events = append(b.Events, e)
		b.Marks = append(b.Marks, n)
	}
	return b
}

// Where is the record's number in the reading.
func (s *Source) Where(n int64) string { return fmt.Sprintf("kinesis %s record %d", s.o.Stream, n) }

// Close stops the readers.
func (s *Source) Close() error {
	s.feed.Close()
	s.transport.CloseIdleConnections()
	return nil
}
