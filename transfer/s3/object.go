package s3

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// DefaultPartSize is the size of the parts of an Upload: with S3's 10,000
// parts at most, an object of up to 156 GiB.
const DefaultPartSize = 16 << 20

// maxParts is S3's limit on the parts of one multipart upload.
const maxParts = 10_000

// ParsePrefix splits s3://BUCKET/PREFIX, where PREFIX may be empty; a
// PREFIX that does not end with "/" gets one: it names a folder.
func ParsePrefix(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" {
		return "", "", fmt.Errorf("s3: %q is not s3://BUCKET/PREFIX/", u)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return bucket, prefix, nil
}

// Upload streams what r holds into the object at url (s3://BUCKET/KEY)
// and returns its size. What fits in one part (o.PartSize) is put at once;
// more goes up as a multipart upload, one part after the other, so that at
// most one part is held in memory. The object appears only when r ends
// with io.EOF: an error from r, from S3 or of ctx puts nothing, and aborts
// the multipart upload.
func Upload(ctx context.Context, url string, r io.Reader, contentType string, o Options) (int64, error) {
	bucket, key, err := ParseURL(url)
	if err != nil {
		return 0, err
	}
	c, transport, err := o.client(ctx)
	if err != nil {
		return 0, err
	}
	defer transport.CloseIdleConnections()
	buf := make([]byte, cmp.Or(o.PartSize, DefaultPartSize))
	// ReadFull's io.EOF and io.ErrUnexpectedEOF are the sentinels
	// themselves; r's own errors (which may wrap them) are r's failures.
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(buf[:n]),
			ContentLength: aws.Int64(int64(n)), ContentType: &contentType})
		if err != nil {
			return 0, fmt.Errorf("s3: put %s: %w", url, err)
		}
		return int64(n), nil
	}
	if err != nil {
		return 0, fmt.Errorf("s3: upload %s: %w", url, err)
	}
	m := multipart{c: c, bucket: bucket, key: key}
	size, err := m.upload(ctx, r, buf, contentType)
	if err != nil {
		return 0, fmt.Errorf("s3: upload %s: %w", url, err)
	}
	return size, nil
}

// multipart is one multipart upload.
type multipart struct {
	c           *awss3.Client
	bucket, key string
	id          *string
	parts       []types.CompletedPart
}

// upload sends buf, which is full, and the rest of r as parts of buf's
// size, and completes the upload at r's end; on any error it aborts it.
func (m *multipart) upload(ctx context.Context, r io.Reader, buf []byte, contentType string) (size int64, err error) {
	out, err := m.c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &m.bucket, Key: &m.key,
		ContentType: &contentType, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		return 0, err
	}
	m.id = out.UploadId
	defer func() {
		if err != nil {
			// With ctx cancelled too: the parts would cost until a
			// lifecycle rule removed them.
			_, aerr := m.c.AbortMultipartUpload(context.WithoutCancel(ctx), &awss3.AbortMultipartUploadInput{Bucket: &m.bucket, Key: &m.key, UploadId: m.id})
			if aerr != nil {
				err = errors.Join(err, fmt.Errorf("abort: %w", aerr))
			}
		}
	}()
	n := len(buf)
	for {
		if err := m.part(ctx, buf[:n]); err != nil {
			return size, err
		}
		size += int64(n)
		if n < len(buf) {
			break
		}
		n, err = io.ReadFull(r, buf)
		if err == io.EOF {
			break
		}
		if err != nil && err != io.ErrUnexpectedEOF {
			return size, err
		}
		if len(m.parts) == maxParts {
			return size, fmt.Errorf("more than %d parts of %d bytes", maxParts, len(buf))
		}
	}
	_, err = m.c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &m.bucket, Key: &m.key,
		UploadId: m.id, MultipartUpload: &types.CompletedMultipartUpload{Parts: m.parts}})
	return size, err
}

// part uploads the next part.
func (m *multipart) part(ctx context.Context, p []byte) error {
	num := aws.Int32(int32(len(m.parts) + 1))
	out, err := m.c.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &m.bucket, Key: &m.key, UploadId: m.id,
		PartNumber: num, Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		return fmt.Errorf("part %d: %w", *num, err)
	}
	m.parts = append(m.parts, types.CompletedPart{PartNumber: num, ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	return nil
}

// Get streams the object at url (s3://BUCKET/KEY); the caller closes it.
func Get(ctx context.Context, url string, o Options) (io.ReadCloser, int64, error) {
	bucket, key, err := ParseURL(url)
	if err != nil {
		return nil, 0, err
	}
	c, transport, err := o.client(ctx)
	if err != nil {
		return nil, 0, err
	}
	out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		transport.CloseIdleConnections()
		return nil, 0, fmt.Errorf("s3: get %s: %w", url, err)
	}
	return readCloser{out.Body, func() error {
		err := out.Body.Close()
		transport.CloseIdleConnections()
		return err
	}}, aws.ToInt64(out.ContentLength), nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// List returns the names of the objects right under the folder url
// (s3://BUCKET/PREFIX/, see ParsePrefix), without the prefix: not those
// in folders below it.
func List(ctx context.Context, url string, o Options) ([]string, error) {
	bucket, prefix, err := ParsePrefix(url)
	if err != nil {
		return nil, err
	}
	c, transport, err := o.client(ctx)
	if err != nil {
		return nil, err
	}
	defer transport.CloseIdleConnections()
	var names []string
	pages := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("s3: list %s: %w", url, err)
		}
		for _, obj := range page.Contents {
			names = append(names, strings.TrimPrefix(aws.ToString(obj.Key), prefix))
		}
	}
	return names, nil
}
