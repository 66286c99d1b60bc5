package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe_SchemasDir: the schemas of schemas_dir are registered at start
// and checked on ingest; starting again with the same files makes no new
// version; an invalid file stops the start with its name.
func TestServe_SchemasDir(t *testing.T) {
	t.Parallel()
	data, schemas := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(schemas, "order.placed.json"), `{"type":"object","required":["sku"]}`)
	writeFile(t, filepath.Join(schemas, "README.txt"), `not a schema`)

	for range 2 {
		tm := newTestMain(map[string]string{"SLUICE_SCHEMAS_DIR": schemas, "SLUICE_ADMIN_KEY": testAdminKey, "SLUICE_WRITE_KEY": testWriteKey})
		base, stop := serveInProcess(t, tm, "--listen", "127.0.0.1:0", "--data", data)
		body := expectStatus(t, http.StatusOK, "GET", base+"/v1/schemas/order.placed", testAdminKey, "")
		if !strings.Contains(string(body), `"version":1`) {
			t.Fatalf("registered schema: %s", body)
		}
		body = expectStatus(t, http.StatusBadRequest, "POST", base+"/v1/events", testWriteKey, `{"type":"order.placed","data":{}}`)
		if !strings.Contains(string(body), `"path":"/data/sku"`) {
			t.Fatalf("an order without sku: %s", body)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}

	writeFile(t, filepath.Join(schemas, "broken.json"), `{"type": 5}`)
	tm := newTestMain(map[string]string{"SLUICE_SCHEMAS_DIR": schemas, "SLUICE_ADMIN_KEY": testAdminKey})
	err := tm.Run(t.Context(), []string{"serve", "--listen", "127.0.0.1:0", "--data", data})
	if err == nil || !strings.Contains(err.Error(), "broken.json") {
		t.Fatalf("start with an invalid schema file: %v, want an error naming broken.json", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
