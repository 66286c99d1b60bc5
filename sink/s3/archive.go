package s3

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/klauspost/compress/gzip"

	"github.com/sluicehq/sluice"
)

// Archive reads back what an s3 sink wrote under its prefix.
type Archive struct {
	client    *awss3.Client
	transport *http.Transport
	bucket    string
	prefix    string // cleaned
}

// Archive returns a reader of the configuration's bucket and prefix. Its
// requests are retried by the SDK (three attempts), unlike the sink's.
func (c *Config) Archive(ctx context.Context) (*Archive, error) {
	client, transport, err := c.client(ctx, true)
	if err != nil {
		return nil, err
	}
	return &Archive{client: client, transport: transport, bucket: c.Bucket, prefix: cleanPrefix(c.Prefix)}, nil
}

// Close closes the archive's idle connections.
func (a *Archive) Close() error {
	a.transport.CloseIdleConnections()
	return nil
}

// Object is an object under the archive's prefix.
type Object struct {
	Key  string
	Size int64
	// Name is what its key says; Err why it does not say it (a stray
	// object under the prefix).
	Name ObjectName
	Err  error
}

// List returns the objects under the prefix in key order.
func (a *Archive) List(ctx context.Context) ([]Object, error) {
	var out []Object
	in := &awss3.ListObjectsV2Input{Bucket: &a.bucket}
	if a.prefix != "" {
		in.Prefix = aws.String(a.prefix + "/")
	}
	for p := awss3.NewListObjectsV2Paginator(a.client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", a.bucket, a.prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			name, err := ParseKey(a.prefix, key)
			out = append(out, Object{Key: key, Size: aws.ToInt64(o.Size), Name: name, Err: err})
		}
	}
	slices.SortFunc(out, func(a, b Object) int { return cmp.Compare(a.Key, b.Key) })
	return out, nil
}

// Read calls line with each line of the object, decompressed, without its
// line break; line's argument is only valid until it returns.
func (a *Archive) Read(ctx context.Context, key string, line func([]byte) error) error {
	out, err := a.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: &a.bucket, Key: &key})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", a.bucket, key, err)
	}
	defer out.Body.Close()
	return ReadLines(out.Body, line)
}

// ErrCorrupt: an object does not decompress or does not hold NDJSON.
var ErrCorrupt = errors.New("corrupt object")

// ReadLines calls line with each line of the gzip-compressed NDJSON that r
// holds, without its line break. An error reading r is returned as it is;
// a stream that is not gzip, is cut short, or whose last line has no line
// break wraps ErrCorrupt.
func ReadLines(r io.Reader, line func([]byte) error) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	br := bufio.NewReaderSize(zr, 1<<16)
	var long []byte // a line longer than br's buffer
	for n := 1; ; n++ {
		b, err := br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, b...)
			b, err = br.ReadSlice('\n')
		}
		if long != nil {
			b, long = append(long, b...), nil
		}
		switch {
		case err == io.EOF && len(b) == 0:
			return nil
		case err == io.EOF:
			return fmt.Errorf("%w: line %d has no line break (the object was cut short)", ErrCorrupt, n)
		case err != nil:
			return fmt.Errorf("%w: line %d: %v", ErrCorrupt, n, err)
		}
		if err := line(b[:len(b)-1]); err != nil {
			return err
		}
	}
}

// The kinds of Problem.
const (
	// ProblemGap: positions missing between objects or inside one (a
	// sink with a filter or a transform that drops events has them by
	// design).
	ProblemGap = "gap"
	// ProblemOverlap: positions held by more than one object: written
	// again after a crash or takeover between storing an object and
	// moving the checkpoint, or by a replay. Nothing is lost; readers
	// deduplicate by event id, or the object covered delete.
	ProblemOverlap = "overlap"
	// ProblemCorrupt: an object that does not decompress, holds a line
	// that is not an event, or whose events do not match its name.
	ProblemCorrupt = "corrupt"
	// ProblemStray: an object under the prefix not named as the sink
	// names its objects.
	ProblemStray = "stray"
)

// Problem is something Verify found.
type Problem struct {
	Kind   string
	Key    string
	Detail string
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.Kind, p.Key, p.Detail) }

// Report is what Verify found.
type Report struct {
	// Objects and Bytes count the objects read, and their size stored.
	Objects int
	Bytes   int64
	// Events counts the lines of the objects.
	Events int64
	// First and Last are the lowest and the highest position held.
	First, Last sluice.Position
	Problems    []Problem
	// IncompleteUploads counts the multipart uploads under the prefix
	// neither completed nor aborted (left by a crash): not a problem, but
	// their parts are stored (and billed) until a lifecycle rule
	// (AbortIncompleteMultipartUpload) removes them.
	IncompleteUploads int
}

// Verify reads every object under the prefix and checks that each
// decompresses and holds events in position order that match its name,
// and that together they hold every position from the first to the last
// exactly once. progress, when set, is called after each object.
func (a *Archive) Verify(ctx context.Context, progress func(done, total int)) (Report, error) {
	objs, err := a.List(ctx)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	var named []Object
	for _, o := range objs {
		if o.Err != nil {
			rep.Problems = append(rep.Problems, Problem{ProblemStray, o.Key, o.Err.Error()})
		} else {
			named = append(named, o)
		}
	}
	// Position order; of two objects that start together, the longer
	// first, so that the other shows as the overlap.
	slices.SortStableFunc(named, func(a, b Object) int {
		return cmp.Or(cmp.Compare(a.Name.First, b.Name.First), cmp.Compare(b.Name.Last, a.Name.Last))
	})
	var covered sluice.Position // the highest position of the objects so far
	var coveredBy string
	for i, o := range named {
		n := o.Name
		switch {
		case i == 0:
			rep.First = n.First
		case n.First == covered+1: // contiguous
		case n.First > covered+1:
			rep.Problems = append(rep.Problems, Problem{ProblemGap, o.Key, fmt.Sprintf("positions %d to %d are in no object (the one before ends at %d)", covered+1, n.First-1, covered)})
		case n.Last <= covered:
			rep.Problems = append(rep.Problems, Problem{ProblemOverlap, o.Key, fmt.Sprintf("all its positions, %d to %d, are also in %s (or those before it)", n.First, n.Last, coveredBy)})
		default:
			rep.Problems = append(rep.Problems, Problem{ProblemOverlap, o.Key, fmt.Sprintf("its positions %d to %d are also in %s", n.First, covered, coveredBy)})
		}
		if n.Last > covered {
			covered, coveredBy = n.Last, o.Key
		}
		events, err := a.check(ctx, o, &rep)
		if err != nil {
			return rep, err
		}
		rep.Objects++
		rep.Bytes += o.Size
		rep.Events += events
		if progress != nil {
			progress(i+1, len(named))
		}
	}
	rep.Last = covered
	rep.IncompleteUploads, err = a.incompleteUploads(ctx)
	return rep, err
}

// incompleteUploads counts the multipart uploads in progress under the
// prefix.
func (a *Archive) incompleteUploads(ctx context.Context) (int, error) {
	in := &awss3.ListMultipartUploadsInput{Bucket: &a.bucket}
	if a.prefix != "" {
		in.Prefix = aws.String(a.prefix + "/")
	}
	n := 0
	for p := awss3.NewListMultipartUploadsPaginator(a.client, in); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload" {
			return n, nil // gofakes3's answer for a bucket without any
		}
		if err != nil {
			return n, fmt.Errorf("list the multipart uploads of s3://%s/%s: %w", a.bucket, a.prefix, err)
		}
		n += len(page.Uploads)
	}
	return n, nil
}

// line is what Verify reads of each event.
type line struct {
	Position   *sluice.Position `json:"position"`
	RecordedAt time.Time        `json:"recorded_at"`
}

// check reads one object and adds its problems to rep; it returns how many
// lines it holds. Only a failure to read it from S3 is an error.
func (a *Archive) check(ctx context.Context, o Object, rep *Report) (int64, error) {
	var n int64
	var prev sluice.Position
	var found []Problem
	err := a.Read(ctx, o.Key, func(b []byte) error {
		n++
		var l line
		if err := json.Unmarshal(b, &l); err != nil || l.Position == nil {
			return fmt.Errorf("%w: line %d is not an event with a position: %.80q", ErrCorrupt, n, b)
		}
		p := *l.Position
		switch {
		case n == 1 && p != o.Name.First:
			return fmt.Errorf("%w: named to start at %d, its first event is at %d", ErrCorrupt, o.Name.First, p)
		case n == 1 && !l.RecordedAt.UTC().Truncate(time.Hour).Equal(o.Name.Hour):
			return fmt.Errorf("%w: in the folder of %s, its first event was recorded at %s", ErrCorrupt, o.Name.Hour.Format("2006-01-02 15h"), l.RecordedAt.UTC().Format(time.RFC3339))
		case n > 1 && p <= prev:
			return fmt.Errorf("%w: line %d, position %d, comes after position %d", ErrCorrupt, n, p, prev)
		case n > 1 && p > prev+1:
			found = append(found, Problem{ProblemGap, o.Key, fmt.Sprintf("positions %d to %d are missing inside it (a filter?)", prev+1, p-1)})
		}
		prev = p
		return nil
	})
	switch {
	case errors.Is(err, ErrCorrupt):
		rep.Problems = append(rep.Problems, Problem{ProblemCorrupt, o.Key, err.Error()})
		return n, nil
	case err != nil:
		return n, err
	case n == 0:
		rep.Problems = append(rep.Problems, Problem{ProblemCorrupt, o.Key, "it holds no event"})
	case prev != o.Name.Last:
		rep.Problems = append(rep.Problems, Problem{ProblemCorrupt, o.Key, fmt.Sprintf("named to end at %d, its last event is at %d", o.Name.Last, prev)})
	}
	rep.Problems = append(rep.Problems, found...)
	return n, nil
}
