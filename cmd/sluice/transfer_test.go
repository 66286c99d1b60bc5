package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportExport imports a file into one embedded store, exports it
// with a filter, and imports the export into another, through the
// command line.
func TestImportExport(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ndjson")
	lines := `{"id":"1","type":"order.placed","stream":"order-1","data":{"n":1}}
{"id":"2","type":"user.seen","data":{"n":2}}
not json
{"id":"3","type":"order.paid","stream":"order-1","data":{"n":3},"metadata":{"m":1}}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, args ...string) *testMain {
		t.Helper()
		tm := newTestMain(nil)
		if err := tm.Run(context.Background(), args); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, tm.stderr)
		}
		return tm
	}
	rejects := filepath.Join(dir, "rejects.ndjson")
	tm := run(t, "import", "--data", filepath.Join(dir, "a"), "--rejects", rejects, "--json", in)
	var rep struct {
		Stored, Rejected int
		Final            bool
	}
	out := strings.TrimSpace(tm.stdout.String())
	if err := json.Unmarshal([]byte(out[strings.LastIndex(out, "\n")+1:]), &rep); err != nil || !rep.Final || rep.Stored != 3 || rep.Rejected != 1 {
		t.Fatalf("summary %s (%v)", out, err)
	}
	if b, err := os.ReadFile(rejects); err != nil || !strings.Contains(string(b), `"where":"`+in+`:3"`) {
		t.Fatalf("rejects %s (%v)", b, err)
	}
	exported := filepath.Join(dir, "out.ndjson.gz")
	run(t, "export", "--data", filepath.Join(dir, "a"), "--stream-prefix", "order-", "--out", exported)
	run(t, "import", "--data", filepath.Join(dir, "b"), exported)
	tm = run(t, "export", "--data", filepath.Join(dir, "b"))
	got := tm.stdout.String()
	if strings.Count(got, "\n") != 2 || !strings.Contains(got, `{"id":"1","type":"order.placed","stream":"order-1","data":{"n":1},"position":1,"version":1,`) ||
		!strings.Contains(got, `{"id":"3","type":"order.paid","stream":"order-1","data":{"n":3},"metadata":{"m":1},"position":2,"version":2,`) {
		t.Fatalf("export of the second store:\n%s", got)
	}
}

func TestImportExport_Usage(t *testing.T) {
	runCases(t, []runCase{
		{"ImportNoSource", []string{"import"}, 2, "", "one SOURCE"},
		{"ImportBothTargets", []string{"import", "--to", "http://x", "--data", "d", "f"}, 2, "", "not both"},
		{"ImportNoTable", []string{"import", "dynamodb://"}, 2, "", "table name"},
		{"ImportNoStream", []string{"import", "kinesis://"}, 2, "", "stream name"},
		{"ExportArgument", []string{"export", "extra"}, 2, "", `unexpected argument "extra"`},
		{"ExportBadTime", []string{"export", "--from", "http://127.0.0.1:1", "--since", "yesterday"}, 2, "", "RFC 3339"},
		{"HelpImport", []string{"help", "import"}, 0, "dynamodb://TABLE", ""},
		{"HelpExport", []string{"help", "export"}, 0, "--stream-prefix", ""},
	})
}

// TestImport_ToServer imports a file into a running server (--to) and
// then its log from that server into a store (SOURCE http://…).
func TestImport_ToServer(t *testing.T) {
	const admin = "sk_admin_transfer_0123456789"
	env := map[string]string{"SLUICE_ADMIN_KEY": admin, "SLUICE_WRITE_KEY": "sk_write_transfer_0123456789"}
	base, _ := serveInProcess(t, newTestMain(env), "--listen", "127.0.0.1:0", "--data", t.TempDir())
	dir := t.TempDir()
	in := filepath.Join(dir, "in.ndjson")
	if err := os.WriteFile(in, []byte("{\"id\":\"x1\",\"type\":\"a\",\"data\":1}\n{\"id\":\"x2\",\"type\":\"b\",\"data\":2}\n{\"type\":\"\",\"data\":3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tm := newTestMain(map[string]string{"SLUICE_KEY": admin})
	if err := tm.Run(context.Background(), []string{"import", "--to", base, "--rejects", filepath.Join(dir, "r.ndjson"), in}); err != nil {
		t.Fatalf("%v\n%s", err, tm.stderr)
	}
	if log := tm.stderr.String(); !strings.Contains(log, "2 stored") || !strings.Contains(log, "1 rejected") {
		t.Fatalf("summary: %s", log)
	}
	tm = newTestMain(map[string]string{"SLUICE_SOURCE_KEY": admin})
	if err := tm.Run(context.Background(), []string{"import", "--data", filepath.Join(dir, "copy"), "--type", "b", base}); err != nil {
		t.Fatalf("%v\n%s", err, tm.stderr)
	}
	tm = newTestMain(nil)
	if err := tm.Run(context.Background(), []string{"export", "--data", filepath.Join(dir, "copy")}); err != nil {
		t.Fatal(err)
	}
	if got := tm.stdout.String(); strings.Count(got, "\n") != 1 || !strings.HasPrefix(got, `{"id":"x2","type":"b","stream":"b","source":"admin","data":2,"metadata":{"received_at":`) {
		t.Fatalf("the copy: %s", got)
	}
}
