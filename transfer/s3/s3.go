package s3

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/transfer"
)

// Options say how to reach the store.
type Options struct {
	// AWS is the region, endpoint and credentials.
	AWS awsconf.Config
	// PathStyle addresses buckets in the path (MinIO and other compatible
	// stores), not in the host name.
	PathStyle bool
	// PartSize is the size of the parts of an Upload (S3 takes 5 MiB at
	// least, but for the last). Default: DefaultPartSize, 16 MiB.
	PartSize int
}

// ParseURL splits s3://BUCKET/KEY.
func ParseURL(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("s3: %q is not s3://BUCKET/KEY", u)
	}
	return bucket, key, nil
}

// client returns a client of the store and its transport.
func (o Options) client(ctx context.Context) (*awss3.Client, *http.Transport, error) {
	cfg, transport, err := o.AWS.Load(ctx, "")
	if err != nil {
		return nil, nil, fmt.Errorf("s3: %w", err)
	}
	return awss3.NewFromConfig(cfg, func(so *awss3.Options) {
		so.UsePathStyle = o.PathStyle
		if o.AWS.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.AWS.Endpoint)
		}
	}), transport, nil
}

// Open streams the object at url (s3://BUCKET/KEY) as an NDJSON source,
// plain or gzip.
func Open(ctx context.Context, url string, cloudEvents bool, o Options) (*transfer.NDJSONSource, error) {
	body, size, err := Get(ctx, url, o)
	if err != nil {
		return nil, err
	}
	src, err := transfer.NewNDJSONSource(url, body, size, cloudEvents, body)
	if err != nil {
		body.Close()
		return nil, err
	}
	return src, nil
}

// Writer is a Target that writes NDJSON to a temporary local file and
// uploads it to its object (one PutObject, so at most 5 GB) when closed:
// a failed export leaves no object.
type Writer struct {
	nd        *transfer.NDJSONWriter
	f         *os.File
	client    *awss3.Client
	transport *http.Transport
	url       string
	bucket    string
	key       string
	gz        bool
}

var _ transfer.Target = (*Writer)(nil)

// Create returns the writer of the object at url, compressed when gz.
func Create(ctx context.Context, url string, gz bool, o Options) (*Writer, error) {
	bucket, key, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "sluice-export-*.ndjson")
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	c, transport, err := o.client(ctx)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &Writer{nd: transfer.NewNDJSONWriter(f, gz), f: f, client: c, transport: transport, url: url, bucket: bucket, key: key, gz: gz}, nil
}

// Write writes events to the local file.
func (w *Writer) Write(ctx context.Context, events []sluice.Event) (transfer.Written, error) {
	return w.nd.Write(ctx, events)
}

// Close uploads the file and removes it.
func (w *Writer) Close() error {
	defer w.Abort()
	if err := w.nd.Close(); err != nil {
		return err
	}
	size, err := w.f.Seek(0, 1)
	if err == nil {
		_, err = w.f.Seek(0, 0)
	}
	if err != nil {
		return fmt.Errorf("s3: %w", err)
	}
	in := &awss3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(w.key), Body: w.f,
		ContentLength: aws.Int64(size), ContentType: aws.String("application/x-ndjson")}
	if w.gz {
		in.ContentEncoding = aws.String("gzip")
	}
	if _, err := w.client.PutObject(context.Background(), in); err != nil {
		return fmt.Errorf("s3: put %s: %w", w.url, err)
	}
	return nil
}

// Abort removes the local file without uploading it.
func (w *Writer) Abort() {
	_ = w.f.Close() // after Close: os.ErrClosed
	os.Remove(w.f.Name())
	w.transport.CloseIdleConnections()
}
