package transfer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/client"
	"github.com/sluicehq/sluice/httpapi"
	"github.com/sluicehq/sluice/internal/backends"
	"github.com/sluicehq/sluice/internal/testserver"
	"github.com/sluicehq/sluice/sqlite"
	"github.com/sluicehq/sluice/transfer"
)

// openStore opens an embedded store in dir until the test ends.
func openStore(tb testing.TB, dir string) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), sqlite.Options{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// event is the i-th event of the test logs: every field set, data and
// metadata with escapes, unicode and spacing kept byte for byte.
func event(i int) sluice.Event {
	e := sluice.Event{
		ID:     fmt.Sprintf("0190%012x-7000-8000-%012d", i, i),
		Type:   []string{"order.placed", "order.paid", "user.seen"}[i%3],
		Stream: "order-" + strconv.Itoa(i%997),
		Data:   []byte(fmt.Sprintf(`{"n": %d, "s":"caf\u00e9 <b> & \"q\"", "nested":{"a":[1,2.5e3,null,true]}}`, i)),
	}
	if i%2 == 0 {
		e.Source, e.Time = "loader", "2026-12-03T10:00:00.123456789Z"
		e.Metadata = []byte(`{"correlation_id":"c-` + strconv.Itoa(i) + `", "ü":"ü"}`)
	}
	return e
}

// fill appends n events to log in commits of 1000.
func fill(tb testing.TB, log sluice.Log, n int) {
	tb.Helper()
	for i := 0; i < n; {
		batch := make([]sluice.Event, 0, 1000)
		for ; i < n && len(batch) < 1000; i++ {
			batch = append(batch, event(i))
		}
		if _, err := log.Append(context.Background(), []sluice.AppendRequest{{Events: batch}}); err != nil {
			tb.Fatal(err)
		}
	}
}

// readAll reads every event of log.
func readAll(tb testing.TB, log sluice.Log) []sluice.Event {
	tb.Helper()
	var all []sluice.Event
	for {
		page, err := log.ReadLog(context.Background(), sluice.Position(len(all)), sluice.Filter{}, 5000)
		if err != nil {
			tb.Fatal(err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
	}
}

// same fails unless a and b hold the same events, field for field and
// byte for byte, positions and versions included.
func same(tb testing.TB, a, b []sluice.Event) {
	tb.Helper()
	if len(a) != len(b) {
		tb.Fatalf("%d events, then %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Type != y.Type || x.Stream != y.Stream || x.Source != y.Source || x.Time != y.Time ||
			!bytes.Equal(x.Data, y.Data) || !bytes.Equal(x.Metadata, y.Metadata) || x.Position != y.Position || x.Version != y.Version {
			tb.Fatalf("event %d differs:\n%s\n%s", i, x.AppendJSON(nil), y.AppendJSON(nil))
		}
	}
}

// export writes log to path.
func export(tb testing.TB, log sluice.Store, path string) transfer.Summary {
	tb.Helper()
	ctx := context.Background()
	head, err := log.Head(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	dst, err := transfer.CreateFile(path, strings.HasSuffix(path, ".gz"))
	if err != nil {
		tb.Fatal(err)
	}
	sum, err := transfer.Copy(ctx, &transfer.LogSource{Log: log, Name: "store", Head: head, Until: head}, dst, transfer.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		tb.Fatal(err)
	}
	return sum
}

// importFile imports path into log, rejects to rejects.
func importFile(tb testing.TB, path string, cloudEvents bool, dst transfer.Target, rejects *transfer.RejectFile) transfer.Summary {
	tb.Helper()
	src, err := transfer.OpenFile(path, cloudEvents)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	sum, err := transfer.Copy(context.Background(), src, dst, transfer.Options{Rejects: rejects})
	if err != nil {
		tb.Fatal(err)
	}
	if err := rejects.Close(); err != nil {
		tb.Fatal(err)
	}
	return sum
}

// roundTripEvents is the size of TestRoundTrip: SLUICE_TEST_ROUNDTRIP_EVENTS,
// else 200,000 (20,000 with -short). At 200,000 the test takes 30 s under
// -race here, as CI runs it; 1,000,000 (the size) takes 58 s
// without -race and would take about 2.5 minutes with it, a sixth of CI's
// budget: docs/benchmarks.md has both.
func roundTripEvents() int {
	if n, err := strconv.Atoi(os.Getenv("SLUICE_TEST_ROUNDTRIP_EVENTS")); err == nil && n > 0 {
		return n
	}
	if testing.Short() {
		return 20_000
	}
	return 200_000
}

func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"events.ndjson", "events.ndjson.gz"} {
		t.Run(name, func(t *testing.T) {
			n := roundTripEvents()
			if name != "events.ndjson" {
				n = min(n, 50_000)
			}
			from := openStore(t, t.TempDir())
			fill(t, from, n)
			path := filepath.Join(t.TempDir(), name)
			start := time.Now()
			if sum := export(t, from, path); sum.Read != int64(n) || sum.Stored != int64(n) {
				t.Fatalf("export: %+v, want %d", sum.Counts, n)
			}
			exported := time.Since(start)
			to := openStore(t, t.TempDir())
			start = time.Now()
			sum := importFile(t, path, false, &transfer.StoreTarget{Log: to}, nil)
			t.Logf("%d events: export %s, import %s", n, exported, time.Since(start))
			if sum.Read != int64(n) || sum.Stored != int64(n) || sum.Rejected != 0 || sum.Duplicates != 0 {
				t.Fatalf("import: %+v, want %d stored", sum.Counts, n)
			}
			same(t, readAll(t, from), readAll(t, to))
			t.Run("AgainStoresNothing", func(t *testing.T) {
				sum := importFile(t, path, false, &transfer.StoreTarget{Log: to}, nil)
				if sum.Stored != 0 || sum.Duplicates != int64(n) {
					t.Fatalf("import again: %+v, want %d duplicates", sum.Counts, n)
				}
			})
		})
	}
}

// TestImport_Rejects imports a file with broken lines and refused events
// into the embedded store and into PostgreSQL.
func TestImport_Rejects(t *testing.T) {
	backends.Run(t, testImportRejects)
}

func testImportRejects(t *testing.T, open backends.Open) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.ndjson")
	lines := strings.Join([]string{
		`{"id":"a","type":"t","data":1}`,
		``,
		`{"id":"b","type":"t","data":`,
		`{"id":"c","type":"bad type!","data":1}`,
		`   `,
		`{"id":"d","type":"t","data":{"x":1},"extra":1}`,
		`{"id":"e","type":"t","data":2,"position":9,"version":3,"recorded_at":"2026-12-03T10:00:00Z"}`,
		`{"id":"a","type":"t","data":1}`,
	}, "\n") // the last line has no newline
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	store := open(t)
	rejectsPath := filepath.Join(dir, "rejects.ndjson")
	sum := importFile(t, path, false, &transfer.StoreTarget{Log: store}, transfer.NewRejectFile(rejectsPath))
	if want := (transfer.Counts{Read: 4, Stored: 2, Duplicates: 1, Rejected: 3}); sum.Counts != want {
		t.Fatalf("counts %+v, want %+v", sum.Counts, want)
	}
	got := readAll(t, store)
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "e" || got[1].Position != 2 || got[1].Version != 2 {
		t.Fatalf("stored %v", got)
	}
	b, err := os.ReadFile(rejectsPath)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"where":"` + path + `:3","reason":"not valid JSON: `,
		`{"where":"` + path + `:6","reason":"/extra unknown field`,
		`{"where":"` + path + `:4","reason":"type: `,
	}
	rl := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(rl) != len(want) {
		t.Fatalf("rejects:\n%s", b)
	}
	for i, w := range want {
		if !strings.HasPrefix(rl[i], w) {
			t.Errorf("reject %d: %s\nwant the start %s", i, rl[i], w)
		}
	}
	if !strings.Contains(rl[2], `"record":{"id":"c","type":"bad type!","stream":"","data":1}`) {
		t.Errorf("reject of a refused event: %s", rl[2])
	}
}

func TestImport_CloudEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ce.ndjson")
	body := `{"specversion":"1.0","id":"ce-1","source":"/orders","type":"order.placed","stream":"order-1","subject":"x","data":{"a":1}}
{"specversion":"1.0","id":"ce-2","source":"/orders","type":"order.paid"}
{"specversion":"0.3","id":"ce-3","source":"/orders","type":"order.paid"}
`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	store := openStore(t, t.TempDir())
	sum := importFile(t, path, true, &transfer.StoreTarget{Log: store}, nil)
	if want := (transfer.Counts{Read: 2, Stored: 2, Rejected: 1}); sum.Counts != want {
		t.Fatalf("counts %+v, want %+v", sum.Counts, want)
	}
	got := readAll(t, store)
	if got[0].Stream != "order-1" || got[0].Source != "/orders" || string(got[0].Metadata) != `{"subject":"x"}` || string(got[1].Data) != "null" {
		t.Fatalf("stored %s %s", got[0].AppendJSON(nil), got[1].AppendJSON(nil))
	}
}

const (
	adminKey = "sk_admin_0123456789abcdef"
	readKey  = "sk_read_0123456789abcdefg"
)

// newServer serves a fresh embedded store with an admin and a read key.
func newServer(t *testing.T) *testserver.Server {
	t.Helper()
	return testserver.New(t, openStore(t, t.TempDir()), httpapi.Config{Keys: []httpapi.Key{
		{Name: "admin", Secret: adminKey, Role: httpapi.RoleAdmin},
		{Name: "reader", Secret: readKey, Role: httpapi.RoleRead},
	}})
}

// TestImport_ServerToServer reads a sluice's log over its API, with a
// filter, and sends it to another over its API, which validates it: the
// events its schema refuses are rejected with the reason.
func TestImport_ServerToServer(t *testing.T) {
	from, to := newServer(t), newServer(t)
	const n = 3000
	fill(t, from.Store, n)
	req, err := http.NewRequest(http.MethodPut, to.URL+"/v1/schemas/user.seen", strings.NewReader(`{"type":"object","properties":{"n":{"type":"string"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("put schema: %s", resp.Status)
	}
	src := &transfer.LogSource{Log: transfer.LogClient{Client: client.New(from.URL, client.WithKey(readKey))}, Name: from.URL,
		Filter: sluice.Filter{Types: []string{"order.placed", "user.seen"}}, After: 300}
	rejectsPath := filepath.Join(t.TempDir(), "rejects.ndjson")
	rejects := transfer.NewRejectFile(rejectsPath)
	var progress bytes.Buffer
	sum, err := transfer.Copy(context.Background(), src, &transfer.ServerTarget{Client: client.New(to.URL, client.WithKey(adminKey))},
		transfer.Options{Rejects: rejects, Progress: &transfer.Progress{W: &progress, Mode: transfer.JSON, Label: "import"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rejects.Close(); err != nil {
		t.Fatal(err)
	}
	// Events 300…2999 of the types 0 and 2 (i%3): 900 each.
	if want := (transfer.Counts{Read: 1800, Stored: 900, Rejected: 900}); sum.Counts != want {
		t.Fatalf("counts %+v, want %+v", sum.Counts, want)
	}
	got := readAll(t, to.Store)
	if len(got) != 900 || got[0].ID != event(300).ID || !bytes.Equal(got[0].Data, event(300).Data) {
		t.Fatalf("stored %d, the first %s", len(got), got[0].AppendJSON(nil))
	}
	b, err := os.ReadFile(rejectsPath)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if !strings.Contains(first, `"where":"`+from.URL+` position 303","reason":"/data/n `) {
		t.Errorf("the first reject: %s", first)
	}
	last := progress.String()[strings.LastIndex(strings.TrimSpace(progress.String()), "\n")+1:]
	var rep transfer.Report
	if err := json.Unmarshal([]byte(last), &rep); err != nil || !rep.Final || rep.Stored != 900 || rep.Rejected != 900 {
		t.Errorf("the last report: %s (%v)", last, err)
	}
}
