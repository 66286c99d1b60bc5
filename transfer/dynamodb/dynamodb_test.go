package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/awsconf"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testutil/npmpeers"
	"github.com/sluicehq/sluice/transfer"
	"github.com/sluicehq/sluice/transfer/dynamodb"
)

// dynalite is this test binary's dynalite, in memory, its tables active
// at once.
var dynalite = npmpeers.NewShared("dynalite", "--port", "{port}", "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")

func TestMain(m *testing.M) {
	code := m.Run()
	if out := dynalite.Stop(); code != 0 && out != "" {
		fmt.Fprintf(os.Stderr, "dynalite's output:\n%s\n", out)
	}
	os.Exit(code)
}

// dynaliteURL returns dynalite's URL, or skips tb when it is not installed
// (fails it when CI is set).
func dynaliteURL(tb testing.TB) string { return "http://" + dynalite.Addr(tb) }

// awsConfig is what the tests' clients use: dynalite checks that requests
// are signed, not by whom.
func awsConfig(url string) awsconf.Config {
	return awsconf.Config{Region: "us-east-1", Endpoint: url, AccessKeyID: "test", SecretAccessKey: "test"}
}

// items is the size of the test table: SLUICE_TEST_DYNAMODB_ITEMS, else
// 20,000 (5,000 with -short). Writing is dynalite's pace, about 9,000
// items of 1 KB a second here, in memory: a million items (the issue's
// size) take about two minutes and a gigabyte of dynalite's memory, and
// dynalite keeps nothing on disk without leveldown's native build, which
// npm's --ignore-scripts leaves out, so a table cannot be cached between
// runs; see docs/benchmarks.md for the figures at 1,000,000.
func items() int {
	if n, err := strconv.Atoi(os.Getenv("SLUICE_TEST_DYNAMODB_ITEMS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 5_000
	}
	return 20_000
}

// newTable creates a table with a hash and a range key holding n items
// of about 1 KB.
func newTable(t *testing.T, url, name string, n int) {
	t.Helper()
	ctx := context.Background()
	c := awsdynamodb.New(awsdynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	_, err := c.CreateTable(ctx, &awsdynamodb.CreateTableInput{
		TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 900)
	start := time.Now()
	for i := 0; i < n; {
		var reqs []types.WriteRequest
		for ; i < n && len(reqs) < 25; i++ {
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
				"pk":    &types.AttributeValueMemberS{Value: "user-" + strconv.Itoa(i%100)},
				"sk":    &types.AttributeValueMemberN{Value: strconv.Itoa(i)},
				"kind":  &types.AttributeValueMemberS{Value: []string{"signup", "login"}[i%2]},
				"tags":  &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
				"score": &types.AttributeValueMemberN{Value: "12.50"},
				"pad":   &types.AttributeValueMemberS{Value: pad},
			}}})
		}
		in := map[string][]types.WriteRequest{name: reqs}
		for len(in) > 0 {
			out, err := c.BatchWriteItem(ctx, &awsdynamodb.BatchWriteItemInput{RequestItems: in})
			if err != nil {
				t.Fatal(err)
			}
			in = out.UnprocessedItems
		}
	}
	t.Logf("%d items written to dynalite in %s", n, time.Since(start).Round(time.Millisecond))
}

// stopAfter is a target that cancels the copy once it has stored at least
// n events: the import killed halfway.
type stopAfter struct {
	transfer.StoreTarget
	n      int
	stored int
	cancel context.CancelFunc
}

func (s *stopAfter) Write(ctx context.Context, events []sluice.Event) (transfer.Written, error) {
	w, err := s.StoreTarget.Write(ctx, events)
	s.stored += w.Stored
	if s.stored >= s.n {
		s.cancel()
	}
	return w, err
}

const testMap = `{type: ("user." + .kind), stream: .pk, data: {sk, score, tags}}`

func TestSource(t *testing.T) {
	url := dynaliteURL(t)
	n := items()
	newTable(t, url, "events", n)
	open := func(t *testing.T, cursor string, resume bool) *dynamodb.Source {
		t.Helper()
		src, err := dynamodb.Open(context.Background(), dynamodb.Options{Table: "events", Segments: 4, Map: testMap,
			CursorFile: cursor, Resume: resume, PageItems: 500, AWS: awsConfig(url)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		return src
	}
	check := func(t *testing.T, store sluice.Log) {
		t.Helper()
		seen := map[string]bool{}
		var after sluice.Position
		for {
			page, err := store.ReadLog(context.Background(), after, sluice.Filter{}, 5000)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if seen[string(e.Data)] {
					t.Fatalf("item stored twice: %s", e.AppendJSON(nil))
				}
				seen[string(e.Data)] = true
			}
			after = page[len(page)-1].Position
		}
		if len(seen) != n {
			t.Fatalf("%d items stored, want %d", len(seen), n)
		}
	}

	t.Run("EveryItemOnce", func(t *testing.T) {
		store := backends.SQLite(t)
		start := time.Now()
		sum, err := transfer.Copy(context.Background(), open(t, "", false), &transfer.StoreTarget{Log: store}, transfer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d items imported in %s", n, time.Since(start).Round(time.Millisecond))
		if sum.Stored != int64(n) || sum.Rejected != 0 {
			t.Fatalf("%+v", sum.Counts)
		}
		check(t, store)
		first, err := store.ReadLog(context.Background(), 0, sluice.Filter{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if e := first[0]; !strings.HasPrefix(e.ID, "ddb-") || !strings.HasPrefix(e.Type, "user.") || !strings.HasPrefix(e.Stream, "user-") ||
			!strings.Contains(string(e.Data), `"score":12.5`) || !strings.Contains(string(e.Data), `"tags":["a","b"]`) {
			t.Fatalf("the first event: %s", e.AppendJSON(nil))
		}
	})

	t.Run("StoppedAndResumed", func(t *testing.T) {
		store := backends.SQLite(t)
		cursor := filepath.Join(t.TempDir(), "cursor.json")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		stop := &stopAfter{StoreTarget: transfer.StoreTarget{Log: store}, n: n / 2, cancel: cancel}
		sum, err := transfer.Copy(ctx, open(t, cursor, false), stop, transfer.Options{})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("stopped import: %v, %+v", err, sum.Counts)
		}
		first := sum.Stored
		if first < int64(n/2) || first >= int64(n) {
			t.Fatalf("stopped after %d of %d", first, n)
		}
		if _, err := dynamodb.Open(context.Background(), dynamodb.Options{Table: "events", Segments: 4, CursorFile: cursor, AWS: awsConfig(url)}); err == nil {
			t.Fatal("an existing cursor without Resume was taken")
		}
		sum, err = transfer.Copy(context.Background(), open(t, cursor, true), &transfer.StoreTarget{Log: store}, transfer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stopped at %d stored, resumed: %+v", first, sum.Counts)
		if first+sum.Stored != int64(n) {
			t.Fatalf("stored %d then %d, want %d in all", first, sum.Stored, n)
		}
		check(t, store)
		if _, err := os.Stat(cursor); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the cursor of a complete scan is still there: %v", err)
		}
	})
}

func FuzzParseCursor(f *testing.F) {
	f.Add([]byte(`{"table":"t","segments":2,"positions":[{"done":true},{"after":{"pk":{"S":"a"},"sk":{"N":"1"}}}]}`))
	f.Add([]byte(`{"table":"t","segments":1,"positions":[{"after":{"pk":{"B":"AAE="}}}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := dynamodb.ParseCursor(b)
		if err != nil {
			return
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "c.json")
		if err := c.Write(path); err != nil {
			t.Fatal(err)
		}
		again, err := dynamodb.ReadCursor(path)
		if err != nil {
			t.Fatalf("a cursor written does not read back: %v", err)
		}
		if fmt.Sprint(again) != fmt.Sprint(c) && len(again.Positions) != len(c.Positions) {
			t.Fatalf("read back %+v, wrote %+v", again, c)
		}
	})
}
