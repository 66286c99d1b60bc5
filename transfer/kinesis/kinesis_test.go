package kinesis_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil"
	"github.com/sluicehq/sluice/internal/testutil/npmpeers"
	"github.com/sluicehq/sluice/transfer"
	"github.com/sluicehq/sluice/transfer/kinesis"
)

// kinesalite is this test binary's kinesalite, its streams active at once.
var kinesalite = npmpeers.NewShared("kinesalite", "--port", "{port}",
	"--createStreamMs", "0", "--deleteStreamMs", "0", "--updateStreamMs", "0", "--shardLimit", "1000")

// streams numbers the tests' streams.
var streams atomic.Int64

func TestMain(m *testing.M) {
	code := m.Run()
	kinesalite.Stop()
	os.Exit(code)
}

// active waits until the stream can be changed again.
func active(t *testing.T, c *awskinesis.Client, stream string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool {
		out, err := c.DescribeStreamSummary(context.Background(), &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		return err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive
	}, "the stream is not active")
}

// put writes records from to to-1 into the stream: envelopes, the even
// ones with an id of their own, each stream's records under one partition
// key (so in one shard, then in its child).
func put(t *testing.T, c *awskinesis.Client, stream string, from, to int) {
	t.Helper()
	for i := from; i < to; {
		var entries []types.PutRecordsRequestEntry
		for ; i < to && len(entries) < 500; i++ {
			id := ""
			if i%2 == 0 {
				id = `"id":"k-` + strconv.Itoa(i) + `",`
			}
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("user-" + strconv.Itoa(i%10)),
				Data: []byte(fmt.Sprintf(`{%s"type":"click","stream":"user-%d","data":{"n":%d}}`, id, i%10, i))})
		}
		out, err := c.PutRecords(context.Background(), &awskinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("put records: %v, %v failed", err, aws.ToInt32(out.FailedRecordCount))
		}
	}
}

// TestSource writes records to a stream of 4 shards, splits one shard and
// merges two others, writes more (into the children), and imports the
// stream: every record once, parents before children; a second import
// stores nothing.
func TestSource(t *testing.T) {
	url := "http://" + kinesalite.Addr(t)
	ctx := context.Background()
	c := awskinesis.New(awskinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	stream := fmt.Sprintf("events-%d", streams.Add(1))
	if _, err := c.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}
	active(t, c, stream)
	put(t, c, stream, 0, 2000)
	mid := new(big.Int).Lsh(big.NewInt(1), 125) // half of shard 0's range: 2^128/4/2
	if _, err := c.SplitShard(ctx, &awskinesis.SplitShardInput{StreamName: aws.String(stream),
		ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(mid.String())}); err != nil {
		t.Fatal(err)
	}
	active(t, c, stream)
	put(t, c, stream, 2000, 3000)
	if _, err := c.MergeShards(ctx, &awskinesis.MergeShardsInput{StreamName: aws.String(stream),
		ShardToMerge: aws.String("shardId-000000000002"), AdjacentShardToMerge: aws.String("shardId-000000000003")}); err != nil {
		t.Fatal(err)
	}
	active(t, c, stream)
	put(t, c, stream, 3000, 4000)

	store := backends.SQLite(t)
	imp := func() transfer.Summary {
		src, err := kinesis.Open(ctx, kinesis.Options{Stream: stream,
			AWS: awsconf.Config{Region: "us-east-1", Endpoint: url, AccessKeyID: "test", SecretAccessKey: "test"}})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		sum, err := transfer.Copy(ctx, src, &transfer.StoreTarget{Log: store}, transfer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	if sum := imp(); sum.Stored != 4000 || sum.Rejected != 0 {
		t.Fatalf("import: %+v", sum.Counts)
	}
	seen, last := map[string]bool{}, map[string]int{}
	page, err := store.ReadLog(ctx, 0, sluice.Filter{}, 5000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page {
		if seen[string(e.Data)] {
			t.Fatalf("stored twice: %s", e.AppendJSON(nil))
		}
		seen[string(e.Data)] = true
		// A stream's records come in the order they were written: a
		// child shard's after its parent's.
		var n int
		if _, err := fmt.Sscanf(string(e.Data), `{"n":%d}`, &n); err != nil {
			t.Fatal(err)
		}
		if p, ok := last[e.Stream]; ok && n < p {
			t.Fatalf("stream %s: record %d after %d", e.Stream, n, p)
		}
		last[e.Stream] = n
	}
	if len(seen) != 4000 || page[0].ID == "" {
		t.Fatalf("%d records stored, want 4000", len(seen))
	}
	if sum := imp(); sum.Stored != 0 || sum.Duplicates != 4000 {
		t.Fatalf("import again: %+v", sum.Counts)
	}
}
