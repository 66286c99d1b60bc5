package fakebulk

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// post sends a body to the server's path and returns the status and the
// answer.
func post(t *testing.T, s *Server, path, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(s.URL+path, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

const ndjson = "application/x-ndjson"

func TestServer_Items(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	filter := "/_bulk?filter_path=errors,items.*.status,items.*.result,items.*._version,items.*.error.type"
	body := `{"index":{"_index":"e","_id":"1"}}
{"a":1}
{"index":{"_index":"e","_id":"1"}}
{"a":2}
{"create":{"_index":"e","_id":"1"}}
{"a":3}
{"index":{"_index":"e","_id":"2"}}
[1,2]
{"index":{"_index":"E","_id":"3"}}
{}
{"delete":{"_index":"e","_id":"9"}}
{"create":{"_index":"e"}}
{"b":true}
`
	code, answer := post(t, s, filter, ndjson, body)
	want := `{"errors":true,"items":[` +
		`{"index":{"_version":1,"result":"created","status":201}},` +
		`{"index":{"_version":2,"result":"updated","status":200}},` +
		`{"create":{"status":409,"error":{"type":"version_conflict_engine_exception"}}},` +
		`{"index":{"status":400,"error":{"type":"mapper_parsing_exception"}}},` +
		`{"index":{"status":400,"error":{"type":"invalid_index_name_exception"}}},` +
		`{"delete":{"_version":1,"result":"not_found","status":404}},` +
		`{"create":{"_version":1,"result":"created","status":201}}]}`
	if code != http.StatusOK || answer != want {
		t.Fatalf("%d %s\nwant 200 %s", code, answer, want)
	}
	if src, version, _ := s.Doc("e", "1"); string(src) != `{"a":2}` || version != 2 {
		t.Errorf("e/1: %s version %d", src, version)
	}
	if n := s.Count("e"); n != 2 {
		t.Errorf("e holds %d documents, want 2 (1 and the created one)", n)
	}
	if n := len(s.Deliveries()); n != 3 {
		t.Errorf("%d deliveries, want 3", n)
	}
	code, answer = post(t, s, "/e/_bulk?filter_path=items.*.status", ndjson, "{\"delete\":{\"_id\":\"1\"}}\n")
	if code != http.StatusOK || answer != `{"items":[{"delete":{"status":200}}]}` {
		t.Errorf("delete in the path's index: %d %s", code, answer)
	}
}

func TestServer_FilterPath(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{})
	body := "{\"index\":{\"_index\":\"e\",\"_id\":\"1\"}}\n{}\n"
	for _, tt := range []struct{ filter, want string }{
		{"items.*.error", `{}`}, // no item failed: the items are gone, as OpenSearch drops them
		{"errors", `{"errors":false}`},
		{"ite*.index._id", `{"items":[{"index":{"_id":"1"}}]}`},
	} {
		if code, answer := post(t, s, "/_bulk?filter_path="+tt.filter, ndjson, body); code != http.StatusOK || answer != tt.want {
			t.Errorf("filter_path=%s: %d %s, want %s", tt.filter, code, answer, tt.want)
		}
	}
	_, answer := post(t, s, "/_bulk", ndjson, body)
	var full struct {
		Took   int              `json:"took"`
		Errors bool             `json:"errors"`
		Items  []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(answer), &full); err != nil || full.Took == 0 || len(full.Items) != 1 {
		t.Errorf("no filter: %s (%v)", answer, err)
	}
}

func TestServer_Refusals(t *testing.T) {
	t.Parallel()
	s := Start(t, Options{Authorization: "Basic dTpw"})
	auth := func(body, contentType string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/_bulk", strings.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		req.SetBasicAuth("u", "p")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		body, contentType string
		code              int
		want              string
	}{
		{"{\"index\":{\"_index\":\"e\"}}\n{}", ndjson, 400, "must be terminated by a newline"},
		{"{\"index\":{\"_index\":\"e\"}}\n", ndjson, 400, "must be terminated by a newline"},
		{"not json\n", ndjson, 400, "Malformed action/metadata line [1]"},
		{"{\"upsert\":{}}\n{}\n", ndjson, 400, "but found [upsert]"},
		{"{\"index\":{}}\n{}\n", ndjson, 400, "index is missing"},
		{"{\"index\":{\"_index\":\"e\"},\"create\":{}}\n{}\n", ndjson, 400, "expected one action"},
		{"", ndjson, 400, "request body is required"},
		{"{\"index\":{\"_index\":\"e\"}}\n{}\n", "text/plain", 406, "Content-Type header [text/plain] is not supported"},
		{"{\"index\":{\"_index\":\"e\"}}\n{}\n", "application/json; charset=utf-8", 200, `"status":201`},
	} {
		if code, answer := auth(tt.body, tt.contentType); code != tt.code || !strings.Contains(answer, tt.want) {
			t.Errorf("%q: %d %s, want %d with %q", tt.body, code, answer, tt.code, tt.want)
		}
	}
	if code, answer := post(t, s, "/_bulk", ndjson, "{\"index\":{\"_index\":\"e\"}}\n{}\n"); code != 401 || !strings.Contains(answer, "security_exception") {
		t.Errorf("no credentials: %d %s", code, answer)
	}
}

// FuzzParseBody: any body is refused with a reason or split into actions
// that each came from an action line, with a source unless a delete; any
// filter_path is refused or filters without panicking.
func FuzzParseBody(f *testing.F) {
	f.Add([]byte("{\"index\":{\"_index\":\"e\",\"_id\":\"1\"}}\n{}\n{\"delete\":{\"_index\":\"e\",\"_id\":\"1\"}}\n"), "items.*.status")
	f.Add([]byte("{\"create\":{}}\n{\"a\":1}\n"), "errors,ite*.index._id")
	f.Add([]byte("\n"), "-items")
	f.Fuzz(func(t *testing.T, body []byte, filter string) {
		actions, refusal := parseBody(body, "default")
		if refusal != "" {
			if actions != nil {
				t.Fatalf("refused (%s) with %d actions", refusal, len(actions))
			}
		} else {
			lines := strings.Count(string(body), "\n")
			for _, a := range actions {
				if a.index == "" || (a.kind != "delete") == (a.source == nil) {
					t.Fatalf("action %+v", a)
				}
			}
			if len(actions) > lines {
				t.Fatalf("%d actions from %d lines", len(actions), lines)
			}
		}
		fp, err := parseFilterPath(filter)
		if err != nil {
			return
		}
		resp := object{{"took", 1}, {"items", []any{object{{"index", object{{"status", 201}, {"error", object{{"type", "x"}}}}}}}}}
		if kept := fp.apply(resp); kept != nil {
			var v any
			if err := json.Unmarshal(appendJSON(nil, kept), &v); err != nil {
				t.Fatalf("filter_path=%s makes invalid JSON: %v", filter, err)
			}
		}
	})
}
