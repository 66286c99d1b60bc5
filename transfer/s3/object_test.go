package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/transfer/s3"
)

// fakeS3 starts an in-process S3 (gofakes3) with the bucket "b", and
// returns the options that reach it and a client of it.
func fakeS3(t testing.TB) (s3.Options, *awss3.Client) {
	t.Helper()
	url := testutil.FakeS3(t, "b")
	o := s3.Options{PathStyle: true, PartSize: 1 << 20, AWS: awsconf.Config{Region: "us-east-1", Endpoint: url, AccessKeyID: "test", SecretAccessKey: "test"}}
	c := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}})
	return o, c
}

// failAfter reads n bytes of r, then fails.
type failAfter struct {
	r io.Reader
	n int
}

// errCut is failAfter's error. It wraps io.ErrUnexpectedEOF, as a reader's
// error may (a tar stream cut short): it must still abort the upload.
var errCut = fmt.Errorf("cut: %w", io.ErrUnexpectedEOF)

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errCut
	}
	n, err := f.r.Read(p[:min(len(p), f.n)])
	f.n -= n
	return n, err
}

// TestUpload streams objects of one part, several, and an exact multiple
// of the part size into gofakes3 and reads them back; an upload whose
// reader fails, before or after its first part, leaves no object and no
// multipart upload.
func TestUpload(t *testing.T) {
	o, c := fakeS3(t)
	ctx := context.Background()
	data := make([]byte, 3<<20+12345)
	for i := range data {
		data[i] = byte(rand.N(256))
	}
	for _, tc := range []struct {
		name string
		size int
	}{{"empty", 0}, {"one-part", 1000}, {"parts", len(data)}, {"exact-parts", 2 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			url := "s3://b/ok/" + tc.name
			n, err := s3.Upload(ctx, url, bytes.NewReader(data[:tc.size]), "application/x-tar", o)
			if err != nil || n != int64(tc.size) {
				t.Fatalf("upload: %d bytes, %v", n, err)
			}
			body, size, err := s3.Get(ctx, url, o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(body)
			if err = errors.Join(err, body.Close()); err != nil || size != int64(tc.size) || !bytes.Equal(got, data[:tc.size]) {
				t.Fatalf("read back %d of %d bytes (size %d), %v", len(got), tc.size, size, err)
			}
		})
	}
	for _, cut := range []int{0, 1000, 1 << 20, 2<<20 + 1} {
		r := &failAfter{r: bytes.NewReader(data), n: cut}
		if _, err := s3.Upload(ctx, "s3://b/cut/x", r, "application/x-tar", o); !errors.Is(err, errCut) {
			t.Fatalf("upload cut after %d bytes: %v, want the reader's error", cut, err)
		}
	}
	if names, err := s3.List(ctx, "s3://b/cut/", o); err != nil || len(names) > 0 {
		t.Fatalf("objects after cut uploads: %v, %v", names, err)
	}
	ups, err := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: aws.String("b")})
	if err != nil || len(ups.Uploads) > 0 {
		t.Fatalf("multipart uploads left: %+v, %v", ups, err)
	}
	names, err := s3.List(ctx, "s3://b/ok", o)
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"empty", "exact-parts", "one-part", "parts"}) {
		t.Fatalf("List: %q, %v", names, err)
	}
	if _, _, err := s3.Get(ctx, "s3://b/ok/missing", o); err == nil {
		t.Fatal("a missing object opened")
	}
}

// TestList lists the objects right under a folder, not those below it.
func TestList(t *testing.T) {
	o, _ := fakeS3(t)
	ctx := context.Background()
	for _, key := range []string{"p/a", "p/b", "p/sub/c", "pq", "top"} {
		if _, err := s3.Upload(ctx, "s3://b/"+key, bytes.NewReader([]byte(key)), "text/plain", o); err != nil {
			t.Fatal(err)
		}
	}
	for url, want := range map[string][]string{"s3://b/p/": {"a", "b"}, "s3://b/p": {"a", "b"}, "s3://b": {"pq", "top"}, "s3://b/none/": nil} {
		names, err := s3.List(ctx, url, o)
		slices.Sort(names)
		if err != nil || !slices.Equal(names, want) {
			t.Errorf("List(%s) = %q, %v; want %q", url, names, err, want)
		}
	}
	if _, _, err := s3.ParsePrefix("s3:///p"); err == nil {
		t.Error("s3:///p parsed")
	}
}
