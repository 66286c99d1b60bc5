package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/itchyny/gojq"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/transfer"
)

// MaxSegments is DynamoDB's bound on a parallel scan's segments.
const MaxSegments = 1_000_000

// DefaultMap is the jq expression of an item's envelope when none is
// given: the item as the data of an event whose type is the table's name.
const DefaultMap = `{type: $table, data: .}`

// Options say what to scan and how.
type Options struct {
	// Table is the table's name.
	Table string
	// Segments is how many Scans run in parallel; default 4.
	Segments int
	// Map is a jq expression from an item (as plain JSON: S strings, N
	// numbers, B base64, M objects, L and sets arrays) to an envelope
	// (type required; id, stream, source, time, data, metadata), with the
	// variable $table; default DefaultMap. An envelope without an id gets
	// one made from the table and the item's key.
	Map string
	// CursorFile, when set, keeps each segment's position after every
	// page stored; Resume starts from it.
	CursorFile string
	// Resume continues the scan of CursorFile; without it an existing
	// CursorFile is an error.
	Resume bool
	// PageItems bounds the items of one Scan page; default 0, DynamoDB's
	// own bound (1 MB).
	PageItems int32
	// AWS is the region, endpoint and credentials.
	AWS awsconf.Config
}

// Source scans a table.
type Source struct {
	o         Options
	client    *awsdynamodb.Client
	transport *http.Transport
	code      *gojq.Code
	keys      []string // the key schema's attribute names, hash first
	total     int64
	scanned   atomic.Int64

	mu     sync.Mutex // guards cursor
	cursor *Cursor

	feed transfer.Feed
}

var (
	_ transfer.Source    = (*Source)(nil)
	_ transfer.Sized     = (*Source)(nil)
	_ transfer.Committer = (*Source)(nil)
)

// Open describes the table, compiles the map and reads the cursor.
func Open(ctx context.Context, o Options) (*Source, error) {
	if o.Segments == 0 {
		o.Segments = 4
	}
	if o.Segments < 1 || o.Segments > MaxSegments {
		return nil, fmt.Errorf("dynamodb: segments: %d is not 1 to %d", o.Segments, MaxSegments)
	}
	if o.Map == "" {
		o.Map = DefaultMap
	}
	q, err := gojq.Parse(o.Map)
	if err != nil {
		return nil, fmt.Errorf("dynamodb: map %q: %w", o.Map, err)
	}
	code, err := gojq.Compile(q, gojq.WithVariables([]string{"$table"}))
	if err != nil {
		return nil, fmt.Errorf("dynamodb: map %q: %w", o.Map, err)
	}
	s := &Source{o: o, code: code}
	s.feed.Run = s.run
	if err := s.loadCursor(); err != nil {
		return nil, err
	}
	cfg, transport, err := o.AWS.Load(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("dynamodb: %w", err)
	}
	s.transport = transport
	s.client = awsdynamodb.NewFromConfig(cfg, func(opts *awsdynamodb.Options) {
		if o.AWS.Endpoint != "" {
			opts.BaseEndpoint = aws.String(o.AWS.Endpoint)
		}
	})
	d, err := s.client.DescribeTable(ctx, &awsdynamodb.DescribeTableInput{TableName: aws.String(o.Table)})
	if err != nil {
		transport.CloseIdleConnections()
		return nil, fmt.Errorf("dynamodb: describe %s: %w", o.Table, err)
	}
	s.keys = sortedKeys(d.Table.KeySchema)
	s.total = aws.ToInt64(d.Table.ItemCount)
	return s, nil
}

// loadCursor reads the cursor file, or starts a new cursor.
func (s *Source) loadCursor() error {
	fresh := &Cursor{Table: s.o.Table, Segments: s.o.Segments, Positions: make([]SegmentPosition, s.o.Segments)}
	if s.o.CursorFile == "" {
		s.cursor = fresh
		return nil
	}
	c, err := ReadCursor(s.o.CursorFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.cursor = fresh
		return nil
	case err != nil:
		return fmt.Errorf("dynamodb: %w", err)
	case !s.o.Resume:
		return fmt.Errorf("dynamodb: the cursor %s exists: resume from it, or remove it to start again", s.o.CursorFile)
	case c.Table != s.o.Table || c.Segments != s.o.Segments:
		return fmt.Errorf("dynamodb: the cursor %s is of table %s in %d segments, not %s in %d", s.o.CursorFile, c.Table, c.Segments, s.o.Table, s.o.Segments)
	}
	s.cursor = c
	return nil
}

// segmentCursor is a batch's cursor: its segment's position after it.
type segmentCursor struct {
	segment int
	pos     SegmentPosition
}

// Next returns the next page of any segment.
func (s *Source) Next(ctx context.Context) (transfer.Batch, error) { return s.feed.Next(ctx) }

// run runs a Scan per segment not done yet; the first error stops them.
func (s *Source) run(ctx context.Context, send func(transfer.Batch) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for i, p := range s.cursor.Positions {
		if p.Done {
			continue
		}
		wg.Go(func() {
			if err := s.scan(ctx, i, startKey(p.After), send); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	return first
}

// scan reads segment i from after its key start to its end.
func (s *Source) scan(ctx context.Context, i int, start map[string]types.AttributeValue, send func(transfer.Batch) error) error {
	for {
		in := &awsdynamodb.ScanInput{TableName: aws.String(s.o.Table), Segment: aws.Int32(int32(i)),
			TotalSegments: aws.Int32(int32(s.o.Segments)), ExclusiveStartKey: start}
		if s.o.PageItems > 0 {
			in.Limit = aws.Int32(s.o.PageItems)
		}
		out, err := s.client.Scan(ctx, in)
		if err != nil {
			return fmt.Errorf("dynamodb: scan %s segment %d: %w", s.o.Table, i, err)
		}
		b := s.batch(ctx, out.Items)
		start = out.LastEvaluatedKey
		b.Cursor = segmentCursor{segment: i, pos: SegmentPosition{Done: len(start) == 0, After: keyValues(start)}}
		if err := send(b); err != nil {
			return nil // stopped
		}
		if len(start) == 0 {
			return nil
		}
	}
}

// batch maps the items of a page to events.
func (s *Source) batch(ctx context.Context, items []map[string]types.AttributeValue) transfer.Batch {
	var b transfer.Batch
	for _, item := range items {
		n := s.scanned.Add(1)
		e, record, err := s.event(ctx, item)
		if err != nil {
			b.Rejects = append(b.Rejects, transfer.Reject{Where: s.Where(n), Reason: err.Error(), Record: record})
			continue
		}
		b.Events = append(b.Events, e)
		b.Marks = append(b.Marks, n)
	}
	return b
}

// event maps one item; on failure it returns the item's JSON with the
// error.
func (s *Source) event(ctx context.Context, item map[string]types.AttributeValue) (e sluice.Event, record []byte, err error) {
	in, err := plainMap(item)
	if err != nil {
		return e, nil, err
	}
	record, _ = json.Marshal(in)
	key, err := keyText(item, s.keys)
	if err != nil {
		return e, record, err
	}
	iter := s.code.RunWithContext(ctx, in, s.o.Table)
	v, ok := iter.Next()
	if !ok {
		return e, record, errors.New("map: gave no value")
	}
	if err, isErr := v.(error); isErr {
		return e, record, fmt.Errorf("map: %w", err)
	}
	if _, more := iter.Next(); more {
		return e, record, errors.New("map: gave more than one value")
	}
	out, err := gojq.Marshal(v)
	if err != nil {
		return e, record, fmt.Errorf("map: %w", err)
	}
	e, err = httpapi.DecodeLine(out, false)
	if err != nil {
		return e, record, fmt.Errorf("map: the envelope: %w", err)
	}
	if e.ID == "" {
		sum := sha256.Sum256([]byte(s.o.Table + "\x00" + key))
		e.ID = "ddb-" + hex.EncodeToString(sum[:16])
	}
	return e, record, nil
}

// Where is the item's number in the scan.
func (s *Source) Where(n int64) string { return fmt.Sprintf("dynamodb %s item %d", s.o.Table, n) }

// Progress is the items scanned of the table's item count (which DynamoDB
// updates about every six hours).
func (s *Source) Progress() (done, total int64) {
	return s.scanned.Load(), max(s.total, s.scanned.Load())
}

// Commit keeps a stored page's segment position, in the cursor file when
// there is one; once every segment is done it removes the file.
func (s *Source) Commit(cursor any) error {
	c := cursor.(segmentCursor)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cursor.Positions[c.segment] = c.pos
	if s.o.CursorFile == "" {
		return nil
	}
	for _, p := range s.cursor.Positions {
		if !p.Done {
			return s.cursor.Write(s.o.CursorFile)
		}
	}
	// The scan is complete: a run again starts afresh.
	if err := os.Remove(s.o.CursorFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dynamodb: cursor: %w", err)
	}
	return nil
}

// Close stops the scans.
func (s *Source) Close() error {
	s.feed.Close()
	s.transport.CloseIdleConnections()
	return nil
}
