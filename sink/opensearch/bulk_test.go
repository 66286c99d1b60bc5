package opensearch

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendAction(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ id, want string }{
		{"0190a1b2-c3d4", `{"index":{"_index":"events-2026.01.02","_id":"0190a1b2-c3d4"}}` + "\n"},
		{`a"b\c` + "\n", `{"index":{"_index":"events-2026.01.02","_id":"a\"b\\c\n"}}` + "\n"},
		{"é", `{"index":{"_index":"events-2026.01.02","_id":"é"}}` + "\n"},
	} {
		if got := string(appendAction(nil, []byte("events-2026.01.02"), tt.id)); got != tt.want {
			t.Errorf("%q: %s, want %s", tt.id, got, tt.want)
		}
	}
}

// FuzzAppendAction: the action line of any id is one line of JSON that
// names that id, and a source with line breaks is one line too.
func FuzzAppendAction(f *testing.F) {
	for _, s := range []string{"id", `"`, "\\", "\n", "\xff", "é\u2028"} {
		f.Add(s, "{\n\"a\":\r\n1}")
	}
	f.Fuzz(func(t *testing.T, id, source string) {
		b := appendAction(nil, []byte("x"), id)
		if strings.Count(string(b), "\n") != 1 || b[len(b)-1] != '\n' {
			t.Fatalf("the action line of %q is not one line: %q", id, b)
		}
		var a struct {
			Index struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"index"`
		}
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatalf("the action line of %q is not JSON: %q: %v", id, b, err)
		}
		if utf8.ValidString(id) && a.Index.ID != id {
			t.Fatalf("the action line of %q names %q", id, a.Index.ID)
		}
		src := appendSource(nil, []byte(source))
		if strings.Count(string(src), "\n") != 1 || src[len(src)-1] != '\n' {
			t.Fatalf("the source line of %q is not one line: %q", source, src)
		}
		if json.Valid([]byte(source)) && !json.Valid(src) {
			t.Fatalf("the JSON %q became %q", source, src)
		}
	})
}

func TestParseBulkResponse(t *testing.T) {
	t.Parallel()
	ok := `{"took":3,"errors":true,"items":[` +
		`{"index":{"_index":"e","_id":"1","_version":1,"result":"created","status":201}},` +
		`{"create":{"_index":"e","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},` +
		`{"index":{"_index":"e","_id":"3","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse","caused_by":{"type":"json_parse_exception","reason":"bad","caused_by":{"type":"a","caused_by":{"type":"too deep"}}}}}}` +
		`]}`
	res, err := parseBulkResponse([]byte(ok), 3)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != 201 || res[0].Error != nil || res[1].Status != 409 || res[2].Status != 400 {
		t.Errorf("results %+v", res)
	}
	if got, want := res[2].Error.String(), "mapper_parsing_exception: failed to parse, caused by json_parse_exception: bad, caused by a"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	for _, tt := range []struct{ answer, want string }{
		{`[]`, "not a bulk answer"},
		{`{"errors":false}`, "no items"},
		{`{"items":[]}`, "0 items for 3 documents"},
		{`{"items":[{},{},{}]}`, "item 0 has no index, create, update or delete"},
		{`{"items":[{"index":{"status":201},"delete":{"status":200}},{},{}]}`, "item 0 has several actions"},
		{`{"items":[{"index":{"status":201}},{"index":{"status":99}},{}]}`, "item 1 has no HTTP status (99)"},
		{`{"items":[{"index":{"status":201,"error":{"type":"x"}}},{},{}]}`, "item 0: status 201 with an error"},
	} {
		if _, err := parseBulkResponse([]byte(tt.answer), 3); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", tt.answer, err, tt.want)
		}
	}
	if s := (&itemError{Type: "x", Reason: strings.Repeat("é", 400)}).String(); len(s) > maxErrorText+len("…") || !utf8.ValidString(s) {
		t.Errorf("a long reason makes %d bytes (valid UTF-8: %v)", len(s), utf8.ValidString(s))
	}
}

// FuzzParseBulkResponse: any answer is either refused or n results, each
// with an HTTP status, an error only with a failure, whose text is
// bounded.
func FuzzParseBulkResponse(f *testing.F) {
	f.Add([]byte(`{"took":1,"errors":false,"items":[{"index":{"_index":"e","_id":"1","status":201}}]}`), 1)
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":429,"error":{"type":"rejected_execution_exception","reason":"full","caused_by":{"type":"x"}}}},{"delete":{"status":404}}]}`), 2)
	f.Add([]byte(`{"items":[{"update":{"status":200}}]}`), 1)
	f.Fuzz(func(t *testing.T, answer []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		res, err := parseBulkResponse(answer, n)
		if err != nil {
			return
		}
		if len(res) != n {
			t.Fatalf("%d results for %d documents", len(res), n)
		}
		for i, r := range res {
			if r.Status < 100 || r.Status > 599 || (r.Status < 300 && r.Error != nil) {
				t.Fatalf("result %d: %+v", i, r)
			}
			if r.Error != nil && len(r.Error.String()) > maxErrorText+len("…") {
				t.Fatalf("result %d: an error text of %d bytes", i, len(r.Error.String()))
			}
		}
	})
}
