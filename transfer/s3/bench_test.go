package s3_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice/transfer/s3"
)

// BenchmarkUpload streams 64 MiB into gofakes3 with Upload, in parts of
// 16 MiB, against the baseline of export's way: the stream spooled to a
// temporary file, then one PutObject of it.
func BenchmarkUpload(b *testing.B) {
	o, c := fakeS3(b)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20)
	b.Run("multipart", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		o.PartSize = s3.DefaultPartSize
		for b.Loop() {
			if _, err := s3.Upload(ctx, "s3://b/bench", bytes.NewReader(data), "application/x-tar", o); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tempfile-put", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f, err := os.CreateTemp(b.TempDir(), "spool")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(f, bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			if _, err := f.Seek(0, 0); err != nil {
				b.Fatal(err)
			}
			_, err = c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("bench"), Body: f, ContentLength: aws.Int64(int64(len(data)))})
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
