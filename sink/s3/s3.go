package s3

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/klauspost/compress/gzip"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

// gzipLevel is the compression of the objects (D57: klauspost/compress at
// its fastest level, against compress/gzip at each level).
const gzipLevel = gzip.BestSpeed

// Sink writes each batch as one object of the archive.
type Sink struct {
	client    *awss3.Client
	transport *http.Transport // the client's
	bucket    string
	prefix    string // cleaned
	node      string // as it goes into names
	partSize  int
	timeout   time.Duration // of one request
	log       *slog.Logger
}

var _ sluice.Sink = (*Sink)(nil)

// Deliver writes the records as one object, gzip-compressed NDJSON (each
// record's body as a line: sink.AppendLine), named after the first and last
// records' positions, the first one's commit hour and the node. An object
// that compresses to less than a part goes in one PUT, a larger one in a
// multipart upload whose parts go out as they fill. The object is stored
// whole or not at all, so Deliver fails the batch whole, retryably: the
// next attempt writes the same name again.
func (s *Sink) Deliver(ctx context.Context, records []sluice.SinkRecord) error {
	if len(records) == 0 {
		return nil
	}
	first, last := records[0].Event, records[len(records)-1].Event
	key := ObjectName{Hour: first.RecordedAt.UTC().Truncate(time.Hour), First: first.Position, Last: last.Position, Node: s.node}.Key(s.prefix)
	u := &upload{s: s, key: aws.String(key)}
	u.zw, _ = gzip.NewWriterLevel(&u.buf, gzipLevel) // the level is valid
	if err := u.write(ctx, records); err != nil {
		u.abort(ctx)
		return fmt.Errorf("s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// upload is one object being written.
type upload struct {
	s   *Sink
	key *string
	zw  *gzip.Writer
	// buf holds the compressed bytes not yet sent.
	buf bytes.Buffer
	// id is the multipart upload's, nil until a part is full.
	id    *string
	parts []types.CompletedPart
}

// write compresses the records, sending each part as it fills, then the
// rest: the whole object in one PUT when no part filled.
func (u *upload) write(ctx context.Context, records []sluice.SinkRecord) error {
	var line []byte
	for _, r := range records {
		line = sink.AppendLine(line[:0], r.Body)
		u.zw.Write(line) // writes into buf, which does not fail
		if u.buf.Len() >= u.s.partSize {
			if err := u.part(ctx); err != nil {
				return err
			}
		}
	}
	u.zw.Close()
	if u.id == nil {
		return u.request(ctx, "put", func(rctx context.Context) error {
			_, err := u.s.client.PutObject(rctx, &awss3.PutObjectInput{Bucket: &u.s.bucket, Key: u.key, Body: bytes.NewReader(u.buf.Bytes()),
				ContentLength: aws.Int64(int64(u.buf.Len())), ContentType: aws.String(contentType), ContentEncoding: aws.String("gzip")})
			return err
		})
	}
	if err := u.part(ctx); err != nil {
		return err
	}
	return u.request(ctx, "complete the upload", func(rctx context.Context) error {
		_, err := u.s.client.CompleteMultipartUpload(rctx, &awss3.CompleteMultipartUploadInput{Bucket: &u.s.bucket, Key: u.key, UploadId: u.id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts}})
		return err
	})
}

// contentType is the objects' media type: NDJSON (their Content-Encoding
// says gzip).
const contentType = "application/x-ndjson"

// part sends what buf holds as the upload's next part, starting the
// upload first when it has not been.
func (u *upload) part(ctx context.Context) error {
	if u.id == nil {
		err := u.request(ctx, "start an upload", func(rctx context.Context) error {
			out, err := u.s.client.CreateMultipartUpload(rctx, &awss3.CreateMultipartUploadInput{Bucket: &u.s.bucket, Key: u.key,
				ContentType: aws.String(contentType), ContentEncoding: aws.String("gzip")})
			if err == nil {
				u.id = out.UploadId
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	n := aws.Int32(int32(len(u.parts) + 1))
	err := u.request(ctx, fmt.Sprintf("upload part %d", *n), func(rctx context.Context) error {
		out, err := u.s.client.UploadPart(rctx, &awss3.UploadPartInput{Bucket: &u.s.bucket, Key: u.key, UploadId: u.id, PartNumber: n,
			Body: bytes.NewReader(u.buf.Bytes()), ContentLength: aws.Int64(int64(u.buf.Len()))})
		if err == nil {
			u.parts = append(u.parts, types.CompletedPart{PartNumber: n, ETag: out.ETag,
				ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME,
				ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256})
		}
		return err
	})
	u.buf.Reset()
	return err
}

// request runs one request within the sink's timeout.
func (u *upload) request(ctx context.Context, what string, do func(context.Context) error) error {
	rctx, cancel := context.WithTimeout(ctx, u.s.timeout)
	defer cancel()
	err := do(rctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && rctx.Err() != nil:
		return fmt.Errorf("%s: no answer within %s: %w", what, u.s.timeout, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// abort gives up the multipart upload, if one was started, so that its
// parts are not kept (and billed); a failure here is left to the bucket's
// lifecycle rule (AbortIncompleteMultipartUpload).
func (u *upload) abort(ctx context.Context) {
	if u.id == nil {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), u.s.timeout)
	defer cancel()
	if _, err := u.s.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{Bucket: &u.s.bucket, Key: u.key, UploadId: u.id}); err != nil {
		u.s.log.Warn("s3 sink: abort a failed upload; its parts stay until the bucket's lifecycle rule removes them", "key", *u.key, "err", err)
	}
}

// Close closes the sink's idle connections.
func (s *Sink) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}
