package httpapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
)

// testLimits are the default limits, changed by fn.
func testLimits(fn func(*Limits)) Limits {
	l := Config{}.WithDefaults().Limits
	if fn != nil {
		fn(&l)
	}
	return l
}

// newRequest is an ingest request with body and, when not empty, the given
// Content-Type and Content-Encoding.
func newRequest(ct, ce string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/events", bytes.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if ce != "" {
		r.Header.Set("Content-Encoding", ce)
	}
	return r
}

// gzipWriters are reused: a gzip.Writer allocates about 800 KB, which
// would dominate a fuzzing run.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// gzipped compresses b.
func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// want is what one item should be: an event of type typ, or a problem at
// path whose message contains msg.
type want struct {
	typ  string
	path string
	msg  string
}

func ok(typ string) want        { return want{typ: typ} }
func bad(path, msg string) want { return want{path: path, msg: msg} }
func (w want) isErr() bool      { return w.msg != "" }
func (w want) String() string {
	return fmt.Sprintf("%+v", struct{ Type, Path, Msg string }{w.typ, w.path, w.msg})
}
func lines(s ...string) []byte      { return []byte(strings.Join(s, "\n")) }
func repeat(s string, n int) []byte { return []byte("[" + strings.Repeat(s+",", n-1) + s + "]") }

// numbered is an array of n events that differ from each other.
func numbered(n int) []byte {
	b := []byte("[")
	for i := range n {
		b = fmt.Appendf(b, `{"type":"a","data":%d},`, i*7919%100003)
	}
	b[len(b)-1] = ']'
	return b
}

const (
	ev  = `{"type":"page.viewed","data":{"url":"/"}}`
	ce1 = `{"specversion":"1.0","id":"e1","source":"/shop","type":"order.placed","data":{"n":1}}`
)

// checkItems compares items with wants.
func checkItems(t *testing.T, items []Item, wants []want) {
	t.Helper()
	if len(items) != len(wants) {
		t.Fatalf("%d items, want %d: %+v", len(items), len(wants), items)
	}
	for i, w := range wants {
		it := items[i]
		switch {
		case !w.isErr() && it.Err != nil:
			t.Errorf("item %d: unexpected problem %+v", i, *it.Err)
		case !w.isErr() && it.Event.Type != w.typ:
			t.Errorf("item %d: type %q, want %q", i, it.Event.Type, w.typ)
		case w.isErr() && it.Err == nil:
			t.Errorf("item %d: no problem, want %v", i, w)
		case w.isErr() && (it.Err.Path != w.path || !strings.Contains(it.Err.Message, w.msg) || it.Err.Index != i):
			t.Errorf("item %d: problem %+v, want %v at index %d", i, *it.Err, w, i)
		}
	}
}

func TestDecodeIngest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		ct, ce string
		body   []byte
		limits func(*Limits)
		items  []want
		// code and status, for a problem with the whole body.
		code   string
		status int
		detail string
	}{
		{name: "Envelope", ct: "application/json", body: []byte(ev), items: []want{ok("page.viewed")}},
		{name: "Array", ct: "application/json", body: []byte("[" + ev + ", " + ev + "]"), items: []want{ok("page.viewed"), ok("page.viewed")}},
		{name: "Whitespace", ct: "application/json", body: []byte(" \r\n\t[ " + ev + " ,\n" + ev + " ] \n"), items: []want{ok("page.viewed"), ok("page.viewed")}},
		{name: "NoContentType", body: []byte(ev), items: []want{ok("page.viewed")}},
		{name: "ContentTypeParamsAndCase", ct: "Application/JSON ; charset=UTF-8", body: []byte(ev), items: []want{ok("page.viewed")}},
		{name: "BeaconTextPlain", ct: "text/plain;charset=UTF-8", body: []byte("[" + ev + "]"), items: []want{ok("page.viewed")}},
		{name: "NDJSON", ct: "application/x-ndjson", body: lines(ev, "", ev+"\r", "  "), items: []want{ok("page.viewed"), ok("page.viewed")}},
		{name: "NDJSONOther", ct: "application/ndjson", body: lines(ev), items: []want{ok("page.viewed")}},
		{name: "JSONL", ct: "application/jsonl", body: lines(ev, ev), items: []want{ok("page.viewed"), ok("page.viewed")}},
		{
			name: "NDJSONBadLine", ct: "application/x-ndjson",
			body:  lines(ev, `{"type":"a","data":`, "", ev, `{"type":"b","data":1} x`, `[1]`),
			items: []want{ok("page.viewed"), bad("", "line 2 is not valid JSON: unexpected end of JSON input at byte offset 61"), ok("page.viewed"), bad("", "line 5 is not valid JSON: invalid character 'x' after the top-level value"), bad("", "an event must be a JSON object")},
		},
		{name: "NDJSONBlank", ct: "application/x-ndjson", body: []byte("\n \n\r\n"), code: "empty_body", status: 400},
		{name: "CloudEvent", ct: "application/cloudevents+json", body: []byte(ce1), items: []want{ok("order.placed")}},
		{name: "CloudEventsBatch", ct: "application/cloudevents-batch+json", body: []byte("[" + ce1 + "," + ce1 + "]"), items: []want{ok("order.placed"), ok("order.placed")}},
		{name: "CloudEventBase64", ct: "application/cloudevents+json", body: []byte(`{"specversion":"1.0","id":"e","source":"s","type":"t","data_base64":"aGVsbG8="}`), items: []want{ok("t")}},
		{name: "CloudEventNoData", ct: "application/cloudevents+json", body: []byte(`{"specversion":"1.0","id":"e","source":"s","type":"t"}`), items: []want{ok("t")}},
		{name: "CloudEventNoSpecversion", ct: "application/cloudevents+json", body: []byte(`{"id":"e","source":"s","type":"t","data":1}`), items: []want{bad("/specversion", "is required")}},
		{name: "CloudEventOldSpecversion", ct: "application/cloudevents+json", body: []byte(`{"specversion":"0.3","id":"e","source":"s","type":"t","data":1}`), items: []want{bad("/specversion", `is "0.3"; only "1.0"`)}},
		{name: "CloudEventSpecversionNumber", ct: "application/cloudevents+json", body: []byte(`{"specversion":1.0,"id":"e","source":"s","type":"t","data":1}`), items: []want{bad("/specversion", "must be a string, not a number")}},
		{name: "CloudEventNoID", ct: "application/cloudevents+json", body: []byte(`{"specversion":"1.0","source":"s","type":"t"}`), items: []want{bad("/id", "is required")}},
		{name: "CloudEventNoSource", ct: "application/cloudevents+json", body: []byte(`{"specversion":"1.0","id":"e","type":"t"}`), items: []want{bad("/source", "is required")}},
		{name: "CloudEventNoType", ct: "application/cloudevents+json", body: []byte(`{"specversion":"1.0","id":"e","source":"s"}`), items: []want{bad("/type", "is required")}},
		{name: "CloudEventBothData", ct: "application/cloudevents+json", body: []byte(`{"specversion":"1.0","id":"e","source":"s","type":"t","data_base64":"AA==","data":1}`), items: []want{bad("/data_base64", "must not be given with data")}},
		{name: "CloudEventNullBase64", ct: "application/cloudevents+json", body: []byte(`{"specversion":"1.0","id":"e","source":"s","type":"t","data_base64":null,"data":1}`), items: []want{ok("t")}},
		{name: "CloudEventBadBase64", ct: "application/cloudevents+json", body: []byte(`{"specversion":"1.0","id":"e","source":"s","type":"t","data_base64":"a!"}`), items: []want{bad("/data_base64", "is not valid base64")}},
		{name: "CloudEventDuplicate", ct: "application/cloudevents+json", body: []byte(`{"specversion":"1.0","id":"e","source":"s","type":"t","subject":"a","subject":"b"}`), items: []want{bad("/subject", "more than once")}},
		{name: "CloudEventNotObject", ct: "application/cloudevents-batch+json", body: []byte(`[` + ce1 + `,"x"]`), items: []want{ok("order.placed"), bad("", "a CloudEvent must be a JSON object")}},
		{name: "Gzip", ct: "application/json", ce: "gzip", body: gzipped(t, []byte("["+ev+"]")), items: []want{ok("page.viewed")}},
		{name: "GzipUpperCase", ct: "application/x-ndjson", ce: "GZIP", body: gzipped(t, lines(ev, ev)), items: []want{ok("page.viewed"), ok("page.viewed")}},
		{name: "XGzip", ce: "x-gzip", body: gzipped(t, []byte(ev)), items: []want{ok("page.viewed")}},
		{name: "Identity", ce: "identity", body: []byte(ev), items: []want{ok("page.viewed")}},
		{name: "GzipCorrupt", ce: "gzip", body: []byte("this is not gzip"), code: "invalid_gzip", status: 400},
		{name: "GzipTruncated", ce: "gzip", body: gzipped(t, []byte(ev))[:30], code: "invalid_gzip", status: 400},
		{name: "GzipBadChecksum", ce: "gzip", body: func() []byte { b := gzipped(t, []byte(ev)); b[len(b)-6] ^= 1; return b }(), code: "invalid_gzip", status: 400},
		{name: "GzipEmptyBody", ce: "gzip", body: nil, code: "empty_body", status: 400},
		{name: "GzipOfNothing", ce: "gzip", body: gzipped(t, nil), code: "empty_body", status: 400},
		{name: "Deflate", ce: "deflate", body: []byte(ev), code: "unsupported_encoding", status: 415, detail: `"deflate"`},
		{name: "Brotli", ce: "br", body: []byte(ev), code: "unsupported_encoding", status: 415},
		{name: "XML", ct: "application/xml", body: []byte("<event/>"), code: "unsupported_media_type", status: 415, detail: `"application/xml" is not accepted here; send application/json, text/plain, application/x-ndjson`},
		{name: "FormData", ct: "multipart/form-data; boundary=x", body: []byte(ev), code: "unsupported_media_type", status: 415},
		{name: "BodyTooLarge", body: repeat(ev, 10), limits: func(l *Limits) { l.MaxBodyBytes = 100 }, code: "payload_too_large", status: 413, detail: "over 100 bytes"},
		{name: "BodyAtLimit", body: []byte(ev), limits: func(l *Limits) { l.MaxBodyBytes = int64(len(ev)) }, items: []want{ok("page.viewed")}},
		{name: "GzipBodyTooLarge", ce: "gzip", body: gzipped(t, numbered(1000)), limits: func(l *Limits) { l.MaxBodyBytes = 500 }, code: "payload_too_large", status: 413, detail: "over 500 bytes"},
		{name: "DecompressedTooLarge", ce: "gzip", body: gzipped(t, repeat(ev, 100)), limits: func(l *Limits) { l.MaxDecompressedBytes = 1000 }, code: "payload_too_large", status: 413, detail: "over 1000 bytes once decompressed"},
		{name: "EmptyBody", body: nil, code: "empty_body", status: 400},
		{name: "BlankBody", body: []byte(" \n\t "), code: "empty_body", status: 400},
		{name: "EmptyArray", body: []byte(" [ ] "), code: "no_events", status: 400},
		{name: "EmptyArrayThenGarbage", body: []byte("[]x"), code: "malformed_json", status: 400, detail: "at byte offset 2"},
		{name: "SyntaxError", body: []byte(`{"type":"a","data":{"x":tru}}`), code: "malformed_json", status: 400, detail: "invalid character '}' in literal true at byte offset 27"},
		{name: "Truncated", body: []byte(`[{"type":"a","data":1},{"type":"b","da`), code: "malformed_json", status: 400, detail: "unexpected end of JSON input at byte offset 38"},
		{name: "ArrayOfGarbage", body: []byte(`[abc, def]`), code: "malformed_json", status: 400, detail: "invalid character 'a' looking for the beginning of a value at byte offset 1"},
		{name: "MissingComma", body: []byte(`[{"type":"a","data":1} {"type":"b","data":1}]`), code: "malformed_json", status: 400, detail: "expected ',' or ']' at byte offset 23"},
		{name: "TrailingComma", body: []byte(`[{"type":"a","data":1},]`), code: "malformed_json", status: 400, detail: "at byte offset 23"},
		{name: "TwoValues", body: []byte(ev + ev), code: "malformed_json", status: 400, detail: "after the top-level value"},
		{name: "SpaceBeforeColon", body: []byte(`{"type" : "a", "data" : {"k" : [1 , 2]}}`), items: []want{ok("a")}},
		{name: "UnknownField", body: []byte(`{"type":"a","strem":"s","data":1}`), items: []want{bad("/strem", "unknown field")}},
		{name: "UnknownFieldPointer", body: []byte(`{"type":"a","a/b~c":1,"data":1}`), items: []want{bad("/a~1b~0c", "unknown field")}},
		{name: "FieldNamesAreCaseSensitive", body: []byte(`{"Type":"a","data":1}`), items: []want{bad("/Type", "unknown field")}},
		{name: "EscapedFieldName", body: []byte(`{"\u0074ype":"a","data":1}`), items: []want{ok("a")}},
		{name: "DuplicateField", body: []byte(`{"type":"a","data":1,"type":"b"}`), items: []want{bad("/type", "is given more than once")}},
		{name: "TypeNotString", body: []byte(`{"type":42,"data":1}`), items: []want{bad("/type", "must be a string, not a number")}},
		{name: "IDNotString", body: []byte(`{"id":true,"type":"a","data":1}`), items: []want{bad("/id", "must be a string, not a boolean")}},
		{name: "StreamNotString", body: []byte(`{"stream":{},"type":"a","data":1}`), items: []want{bad("/stream", "must be a string, not an object")}},
		{name: "TimeNotString", body: []byte(`{"time":[],"type":"a","data":1}`), items: []want{bad("/time", "must be a string, not an array")}},
		{name: "MetadataNotObject", body: []byte(`{"type":"a","data":1,"metadata":"x"}`), items: []want{bad("/metadata", "must be a JSON object, not a string")}},
		{name: "NullsAreAbsent", body: []byte(`{"id":null,"type":"a","stream":null,"source":null,"time":null,"data":null,"metadata":null}`), items: []want{ok("a")}},
		{name: "MissingData", body: []byte(`{"type":"a"}`), items: []want{bad("/data", "is required")}},
		{name: "MissingType", body: []byte(`{"data":1}`), items: []want{bad("/type", "is required")}},
		{name: "EmptyObject", body: []byte(`{}`), items: []want{bad("/type", "is required")}},
		{name: "FirstProblemWins", body: []byte(`{"type":1,"x":1}`), items: []want{bad("/type", "must be a string")}},
		{name: "NotObject", body: []byte(`"hello"`), items: []want{bad("", "an event must be a JSON object")}},
		{name: "NonObjectElements", body: []byte(`[` + ev + `,1,"s",null,[],true,` + ev + `]`), items: []want{ok("page.viewed"), bad("", "must be a JSON object"), bad("", "must be a JSON object"), bad("", "must be a JSON object"), bad("", "must be a JSON object"), bad("", "must be a JSON object"), ok("page.viewed")}},
		{name: "BadElementStillChecksSyntax", body: []byte(`[{"type":1,"data":{"x":}}]`), code: "malformed_json", status: 400},
		{name: "TooManyEvents", body: repeat(ev, 3), limits: func(l *Limits) { l.MaxEvents = 2 }, code: "too_many_events", status: 413, detail: "more than 2 events"},
		{name: "AtMaxEvents", body: repeat(ev, 2), limits: func(l *Limits) { l.MaxEvents = 2 }, items: []want{ok("page.viewed"), ok("page.viewed")}},
		{name: "TooManyLines", ct: "application/x-ndjson", body: lines(ev, "x", ev), limits: func(l *Limits) { l.MaxEvents = 2 }, code: "too_many_events", status: 413},
		{name: "TooManyCloudEvents", ct: "application/cloudevents-batch+json", body: repeat(ce1, 3), limits: func(l *Limits) { l.MaxEvents = 2 }, code: "too_many_events", status: 413},
		{name: "InvalidUTF8InData", body: []byte(`{"type":"a","data":"a` + "\xff" + `"}`), code: "malformed_json", status: 400, detail: "invalid UTF-8 in a string at byte offset 21"},
		{name: "InvalidUTF8InKey", body: []byte(`{"type":"a","data":{"k` + "\xc3" + `":1}}`), code: "malformed_json", status: 400, detail: "invalid UTF-8"},
		{name: "SurrogateInStream", body: []byte(`{"type":"a","stream":"` + "\xed\xa0\x80" + `","data":1}`), code: "malformed_json", status: 400, detail: "invalid UTF-8"},
		{name: "TooDeep", body: []byte(`{"type":"a","data":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`), code: "malformed_json", status: 400, detail: "nesting deeper than 10000"},
		{name: "DeepestAllowed", body: []byte(`{"type":"a","data":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`), items: []want{ok("a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			items, p := DecodeIngest(newRequest(tt.ct, tt.ce, tt.body), testLimits(tt.limits))
			if tt.code != "" {
				if p == nil {
					t.Fatalf("no problem, want %s; items %+v", tt.code, items)
				}
				if p.Code != tt.code || p.Status != tt.status || !strings.Contains(p.Detail, tt.detail) {
					t.Fatalf("problem %d %s %q, want %d %s with %q", p.Status, p.Code, p.Detail, tt.status, tt.code, tt.detail)
				}
				if items != nil {
					t.Errorf("items %+v with a problem", items)
				}
				return
			}
			if p != nil {
				t.Fatalf("problem %d %s: %s", p.Status, p.Code, p.Detail)
			}
			checkItems(t, items, tt.items)
		})
	}
}

// TestDecodeIngest_Fields checks every field of decoded events, data and
// metadata byte for byte.
func TestDecodeIngest_Fields(t *testing.T) {
	t.Parallel()
	const data = "{ \"z\" : [1, 2.50, -3e+2],\n\t\"a\": \"caf\\u00e9 \u2603\", \"n\": null }"
	const meta = `{"correlation_id": "c1" ,"b":{}}`
	tests := []struct {
		name, ct, body string
		want           sluice.Event
	}{
		{
			name: "Native", ct: "application/json",
			body: `{"id":"e-1","type":"order.placed","stream":"order-42","source":"shop","time":"2024-07-01T12:00:00Z","data":` + data + `,"metadata":` + meta + `}`,
			want: sluice.Event{ID: "e-1", Type: "order.placed", Stream: "order-42", Source: "shop", Time: "2024-07-01T12:00:00Z", Data: json.RawMessage(data), Metadata: json.RawMessage(meta)},
		},
		{
			name: "NativeEscapedStrings", ct: "application/json",
			body: `{"type":"a","source":"caf\u00e9 \"\\\/\n","stream":"caf\ud800","data":"x"}`,
			want: sluice.Event{Type: "a", Source: "café \"\\/\n", Stream: "caf\uFFFD", Data: json.RawMessage(`"x"`)},
		},
		{
			name: "NativeScalarData", ct: "application/x-ndjson",
			body: "{\"type\":\"a\",\"data\":  -0.5e10  }\n",
			want: sluice.Event{Type: "a", Data: json.RawMessage(`-0.5e10`)},
		},
		{
			name: "CloudEvent", ct: "application/cloudevents+json",
			body: `{"specversion":"1.0","id":"e-1","source":"/shop","type":"order.placed","subject":"o-42","time":"2024-07-01T12:00:00Z",` +
				`"datacontenttype":"application/json","dataschema":"https://x/s.json","stream":"order-42","traceparent":"00-ab-cd-01","n":7,"data":` + data + `}`,
			want: sluice.Event{ID: "e-1", Type: "order.placed", Stream: "order-42", Source: "/shop", Time: "2024-07-01T12:00:00Z", Data: json.RawMessage(data),
				Metadata: json.RawMessage(`{"subject":"o-42","datacontenttype":"application/json","dataschema":"https://x/s.json","traceparent":"00-ab-cd-01","n":7}`)},
		},
		{
			name: "CloudEventBase64", ct: "application/cloudevents+json",
			body: `{"specversion":"1.0","id":"e","source":"s","type":"t","datacontenttype":"image/png","data_base64":"iVBORw0K"}`,
			want: sluice.Event{ID: "e", Type: "t", Source: "s", Data: json.RawMessage(`"iVBORw0K"`), Metadata: json.RawMessage(`{"datacontenttype":"image/png","data_base64":true}`)},
		},
		{
			name: "CloudEventNoData", ct: "application/cloudevents+json",
			body: `{"specversion":"1.0","id":"e","source":"s","type":"t","data":null}`,
			want: sluice.Event{ID: "e", Type: "t", Source: "s", Data: json.RawMessage(`null`)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			items, p := DecodeIngest(newRequest(tt.ct, "", []byte(tt.body)), testLimits(nil))
			if p != nil {
				t.Fatalf("problem %s: %s", p.Code, p.Detail)
			}
			if len(items) != 1 || items[0].Err != nil {
				t.Fatalf("items %+v", items)
			}
			got, want := items[0].Event, tt.want
			if got.ID != want.ID || got.Type != want.Type || got.Stream != want.Stream || got.Source != want.Source || got.Time != want.Time {
				t.Errorf("event\n%+v, want\n%+v", got, want)
			}
			if !bytes.Equal(got.Data, want.Data) {
				t.Errorf("data\n%s, want\n%s", got.Data, want.Data)
			}
			if !bytes.Equal(got.Metadata, want.Metadata) {
				t.Errorf("metadata\n%s, want\n%s", got.Metadata, want.Metadata)
			}
		})
	}
}

// TestDecodeIngest_DataIsNotShared checks that appending to one event's data
// cannot overwrite the body that the next event's data shares.
func TestDecodeIngest_DataIsNotShared(t *testing.T) {
	t.Parallel()
	items, p := DecodeIngest(newRequest("", "", []byte(`[{"type":"a","data":1},{"type":"b","data":2}]`)), testLimits(nil))
	if p != nil {
		t.Fatal(p)
	}
	_ = append(items[0].Event.Data, "999"...)
	if string(items[1].Event.Data) != "2" {
		t.Fatalf("second data is %s", items[1].Event.Data)
	}
}

// countingBody counts what is read of a request body.
type countingBody struct {
	r io.Reader
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestDecodeIngest_GzipBomb checks that a body that decompresses to far
// more than the cap costs no more than the cap to refuse. It does not run in
// parallel: it measures the memory allocated.
func TestDecodeIngest_GzipBomb(t *testing.T) {
	const limit = 1 << 20
	zeros := make([]byte, 1<<20)
	// One member streamed through gzip.Writer: 16 MiB of zeros, about 16 KiB.
	var single bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&single, gzip.BestCompression)
	for range 16 {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	// 1 GiB of zeros in about 1 MiB: 1024 members of 1 MiB each (RFC 1952
	// allows concatenated members; gzip readers read them as one stream).
	// Compressing the gigabyte itself would take seconds under -race.
	member := gzipped(t, zeros)
	gigabyte := bytes.Repeat(member, 1024)

	for _, bomb := range []struct {
		name string
		body []byte
	}{{"16MiBOneMember", single.Bytes()}, {"1GiBMembers", gigabyte}} {
		t.Run(bomb.name, func(t *testing.T) {
			body := &countingBody{r: bytes.NewReader(bomb.body)}
			r := httptest.NewRequest(http.MethodPost, "/v1/events", body)
			r.Header.Set("Content-Encoding", "gzip")
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, p := DecodeIngest(r, testLimits(func(l *Limits) { l.MaxDecompressedBytes = limit }))
			runtime.ReadMemStats(&after)
			if p == nil || p.Status != http.StatusRequestEntityTooLarge || p.Code != "payload_too_large" {
				t.Fatalf("problem %+v, want 413 payload_too_large", p)
			}
			// limit+1 decompressed bytes need a small part of the bomb.
			if body.n > 64<<10 {
				t.Errorf("read %d bytes of a %d-byte bomb to decompress %d bytes", body.n, len(bomb.body), limit+1)
			}
			// The buffer, doubling up to the limit (2×limit in all), and
			// gzip's state (about 100 KiB).
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2*limit+256<<10 {
				t.Errorf("allocated %d bytes to refuse a bomb, cap %d", alloc, limit)
			}
			t.Logf("read %d of %d bytes, allocated %d", body.n, len(bomb.body), after.TotalAlloc-before.TotalAlloc)
		})
	}
}

// TestDecodeIngest_BodyLimit checks that a body over the limit is refused
// after reading at most one byte more than the limit, with or without a
// Content-Length.
func TestDecodeIngest_BodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1000
	for _, known := range []bool{true, false} {
		t.Run(fmt.Sprintf("ContentLengthKnown=%v", known), func(t *testing.T) {
			t.Parallel()
			body := &countingBody{r: bytes.NewReader(repeat(ev, 1000))}
			r := httptest.NewRequest(http.MethodPost, "/v1/events", body)
			if known {
				r.ContentLength = int64(len(repeat(ev, 1000)))
			} else {
				r.ContentLength = -1
			}
			_, p := DecodeIngest(r, testLimits(func(l *Limits) { l.MaxBodyBytes = limit }))
			if p == nil || p.Code != "payload_too_large" || p.Status != 413 {
				t.Fatalf("problem %+v, want 413 payload_too_large", p)
			}
			if body.n > limit+1 {
				t.Errorf("read %d bytes, limit %d", body.n, limit)
			}
		})
	}
}

// errReader fails every read.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestDecodeIngest_ReadErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, ce   string
		body       io.Reader
		code       string
		status     int
		maxBytes   int64
		serverWrap bool
	}{
		{name: "Plain", body: errReader{}, code: "unreadable_body", status: 400},
		{name: "Gzip", ce: "gzip", body: io.MultiReader(bytes.NewReader(gzipped(t, []byte(ev))[:20]), errReader{}), code: "unreadable_body", status: 400},
		{name: "MaxBytesReader", body: bytes.NewReader(repeat(ev, 100)), code: "payload_too_large", status: 413, maxBytes: 100, serverWrap: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/v1/events", tt.body)
			r.ContentLength = -1
			if tt.serverWrap {
				r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, tt.maxBytes)
			}
			r.Header.Set("Content-Encoding", tt.ce)
			_, p := DecodeIngest(r, testLimits(nil))
			if p == nil || p.Code != tt.code || p.Status != tt.status {
				t.Fatalf("problem %+v, want %d %s", p, tt.status, tt.code)
			}
		})
	}
}

func TestDecodeStreamAppend(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, ct string
		body     string
		items    []want
		code     string
	}{
		{name: "Envelope", ct: "application/json", body: ev, items: []want{ok("page.viewed")}},
		{name: "Array", ct: "", body: "[" + ev + "," + ev + "]", items: []want{ok("page.viewed"), ok("page.viewed")}},
		{name: "NDJSON", ct: "application/x-ndjson", body: ev + "\n" + ev + "\n", items: []want{ok("page.viewed"), ok("page.viewed")}},
		{name: "UnknownField", ct: "application/json", body: `{"type":"a","data":1,"expected_version":3}`, items: []want{bad("/expected_version", "unknown field")}},
		{name: "CloudEvents", ct: "application/cloudevents+json", body: ce1, code: "unsupported_media_type"},
		{name: "XML", ct: "application/xml", body: "<x/>", code: "unsupported_media_type"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			items, p := DecodeStreamAppend(newRequest(tt.ct, "", []byte(tt.body)), testLimits(nil))
			if tt.code != "" {
				if p == nil || p.Code != tt.code {
					t.Fatalf("problem %+v, want %s", p, tt.code)
				}
				return
			}
			if p != nil {
				t.Fatalf("problem %s: %s", p.Code, p.Detail)
			}
			checkItems(t, items, tt.items)
		})
	}
}

// decodeItems decodes body as application/json, failing on a problem.
func decodeItems(t *testing.T, body string) []Item {
	t.Helper()
	items, p := DecodeIngest(newRequest("application/json", "", []byte(body)), testLimits(nil))
	if p != nil {
		t.Fatalf("problem %s: %s", p.Code, p.Detail)
	}
	return items
}

func TestValidate(t *testing.T) {
	t.Parallel()
	t.Run("AllValid", func(t *testing.T) {
		t.Parallel()
		items := decodeItems(t, `[{"type":"a","data":1},{"id":"mine","type":"b","stream":"s-1","data":2}]`)
		req, rejected := Validate(items, testLimits(nil))
		valid := req.Events
		if rejected != nil || len(valid) != 2 {
			t.Fatalf("valid %+v, rejected %+v", valid, rejected)
		}
		if len(valid[0].ID) != 36 || valid[0].Stream != "a" || string(valid[0].Data) != "1" {
			t.Errorf("first event %+v: want a UUIDv7 id and stream a", valid[0])
		}
		if valid[1].ID != "mine" || valid[1].Stream != "s-1" {
			t.Errorf("second event %+v", valid[1])
		}
		if items[0].Event.ID != valid[0].ID {
			t.Errorf("item id %q, valid id %q", items[0].Event.ID, valid[0].ID)
		}
	})
	t.Run("Mixed", func(t *testing.T) {
		t.Parallel()
		items := decodeItems(t, `[{"type":"a","data":1},{"id":"x","type":"bad type","data":1},7,{"type":"c","time":"yesterday","data":1},{"type":"d","data":4}]`)
		req, rejected := Validate(items, testLimits(nil))
		valid := req.Events
		if len(valid) != 2 || valid[0].Type != "a" || valid[1].Type != "d" || valid[0].ID == "" || valid[1].ID == "" {
			t.Errorf("valid %+v, want a and d with ids", valid)
		}
		want := []EventProblem{
			{Index: 1, ID: "x", Path: "/type", Message: `has ' ' at byte 3; only A-Z a-z 0-9 . _ : - are allowed`},
			{Index: 2, Message: "an event must be a JSON object"},
			{Index: 3, Path: "/time", Message: "is not an RFC 3339 time"},
		}
		if fmt.Sprint(rejected) != fmt.Sprint(want) {
			t.Errorf("rejected\n%+v, want\n%+v", rejected, want)
		}
	})
	t.Run("OneInvalidAfterValid", func(t *testing.T) {
		t.Parallel()
		items := decodeItems(t, `[{"type":"a","data":1},{"type":"b","stream":"`+strings.Repeat("s", 300)+`","data":1}]`)
		req, rejected := Validate(items, testLimits(nil))
		valid := req.Events
		if len(valid) != 1 || len(rejected) != 1 || rejected[0].Index != 1 || rejected[0].Path != "/stream" {
			t.Fatalf("valid %+v, rejected %+v", valid, rejected)
		}
	})
	t.Run("Size", func(t *testing.T) {
		t.Parallel()
		items := decodeItems(t, `{"type":"a","data":"`+strings.Repeat("x", 100)+`"}`)
		req, rejected := Validate(items, testLimits(func(l *Limits) { l.MaxEventBytes = 100 }))
		valid := req.Events
		if len(valid) != 0 || len(rejected) != 1 {
			t.Fatalf("valid %+v, rejected %+v", valid, rejected)
		}
		// The id is the one sent (none), not the one Prepare assigned.
		if p := rejected[0]; p.Path != "" || p.ID != "" || !strings.Contains(p.Message, "at most 100 allowed") {
			t.Errorf("problem %+v", p)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		if req, rejected := Validate(nil, testLimits(nil)); req.Events != nil || rejected != nil {
			t.Fatalf("valid %+v, rejected %+v", req.Events, rejected)
		}
	})
}

func TestCheckItems(t *testing.T) {
	t.Parallel()
	items := decodeItems(t, `[{"type":"a","data":1},{"type":"b","data":1,"metadata":{}},{"type":"c!","data":1}]`)
	items[1].Err = &EventProblem{Index: 1, Message: "set by the caller"}
	CheckItems(items, testLimits(nil))
	if items[0].Err != nil || items[0].Event.ID == "" || items[0].Event.Stream != "a" {
		t.Errorf("item 0 %+v: want an id and a stream", items[0])
	}
	if items[1].Err.Message != "set by the caller" || items[1].Event.ID != "" {
		t.Errorf("item 1 %+v: want untouched", items[1])
	}
	if items[2].Err == nil || items[2].Err.Path != "/type" || items[2].Err.Index != 2 {
		t.Errorf("item 2 %+v: want a problem at /type", items[2])
	}
}

// fuzzContentTypes are the Content-Types FuzzDecodeIngest picks from.
var fuzzContentTypes = []string{
	"application/json", "text/plain", "", "application/x-ndjson",
	"application/cloudevents+json", "application/cloudevents-batch+json", "application/xml",
}

// FuzzDecodeIngest decodes any body under any Content-Type, sent as is,
// gzipped (enc 1), or claimed gzipped as is (enc 2). Decoding never panics,
// answers either items or a 4xx problem, and every usable item has a type
// and valid JSON data. For the native JSON formats it also checks the
// decoder against encoding/json: the body is malformed exactly when
// encoding/json says it is not valid, and every usable event has the values
// encoding/json finds.
func FuzzDecodeIngest(f *testing.F) {
	for _, seed := range []string{
		ev, "[" + ev + "," + ev + "]", ev + "\n" + ev, ce1, "[" + ce1 + "]", "", "[]", "[1,2]", `{"type":"a"}`,
		`{"type":"a","data":{"x":[1,2,{"y":null}]},"metadata":{"k":"v"},"id":"i","stream":"s","time":"t","source":"o"}`,
		`{"type":"a","data":1,"Type":"b"}`, `{"type":"\u00e9","data":"\ud800"}`, `[{"type":"a","data":1},]`, `{"type":"a","data":-01}`,
		`{"specversion":"1.0","id":"e","source":"s","type":"t","data_base64":"AA==","x":1}`,
		`{"type":"a","data":"\xff\xc3(é"}`, `{"type":"a","data":` + strings.Repeat("[", 10001) + `}`,
	} {
		for ct := range len(fuzzContentTypes) {
			f.Add([]byte(seed), uint8(ct), uint8(0))
		}
		f.Add([]byte(seed), uint8(0), uint8(1))
		f.Add([]byte(seed), uint8(0), uint8(2))
	}
	limits := testLimits(func(l *Limits) {
		l.MaxBodyBytes = 1 << 16
		l.MaxDecompressedBytes = 1 << 16
		l.MaxEvents = 64
		l.MaxEventBytes = 1 << 12
	})
	f.Fuzz(func(t *testing.T, body []byte, ct, enc uint8) {
		contentType := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		sent, ce := body, ""
		switch enc % 3 {
		case 1:
			sent, ce = gzipped(t, body), "gzip"
		case 2:
			ce = "gzip"
		}
		items, p := DecodeIngest(newRequest(contentType, ce, sent), limits)
		if enc%3 != 2 && (contentType == "application/json" || contentType == "") && len(body) <= int(limits.MaxBodyBytes) {
			compareWithEncodingJSON(t, body, items, p)
		}
		if p != nil {
			if p.Status < 400 || p.Status > 499 || p.Code == "" || items != nil {
				t.Fatalf("problem %+v with %d items", p, len(items))
			}
			return
		}
		checkFuzzItems(t, items, limits)
	})
}

// checkFuzzItems checks the invariants of decoded items and of Validate.
func checkFuzzItems(t *testing.T, items []Item, limits Limits) {
	t.Helper()
	if len(items) == 0 || len(items) > limits.MaxEvents {
		t.Fatalf("%d items without a problem", len(items))
	}
	for i, it := range items {
		if it.Err != nil {
			if it.Err.Index != i || it.Err.Message == "" {
				t.Fatalf("item %d: problem %+v", i, *it.Err)
			}
			continue
		}
		if it.Event.Type == "" || !json.Valid(it.Event.Data) {
			t.Fatalf("item %d: usable with type %q, data %q", i, it.Event.Type, it.Event.Data)
		}
		if m := it.Event.Metadata; len(m) > 0 && (!json.Valid(m) || m[0] != '{') {
			t.Fatalf("item %d: metadata %q", i, m)
		}
	}
	req, rejected := Validate(items, limits)
	valid := req.Events
	if len(valid)+len(rejected) != len(items) {
		t.Fatalf("%d valid and %d rejected of %d items", len(valid), len(rejected), len(items))
	}
	for _, e := range valid {
		if e.ID == "" || e.Stream == "" {
			t.Fatalf("valid event without id or stream: %+v", e)
		}
	}
}

// compareWithEncodingJSON checks the decoding of a native JSON body against
// encoding/json.
func compareWithEncodingJSON(t *testing.T, body []byte, items []Item, p *Problem) {
	t.Helper()
	if p != nil && p.Code == "too_many_events" {
		return
	}
	blank := len(bytes.TrimLeft(body, " \t\r\n")) == 0
	// JSON text is UTF-8; encoding/json alone does not check it.
	valid := json.Valid(body) && utf8.Valid(body)
	if malformed := p != nil && p.Code == "malformed_json"; malformed == valid && !blank {
		t.Fatalf("json.Valid and utf8.Valid say %v, decoder says %+v", valid, p)
	}
	if p != nil {
		return
	}
	elements := []json.RawMessage{json.RawMessage(body)}
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); trimmed[0] == '[' {
		if err := json.Unmarshal(body, &elements); err != nil {
			t.Fatal(err)
		}
	}
	if len(elements) != len(items) {
		t.Fatalf("%d items, encoding/json finds %d elements", len(items), len(elements))
	}
	for i, it := range items {
		if it.Err != nil {
			continue
		}
		var e struct {
			ID, Type, Stream, Source, Time string
			Data, Metadata                 json.RawMessage
		}
		if err := json.Unmarshal(elements[i], &e); err != nil {
			t.Fatalf("item %d is usable; encoding/json: %v", i, err)
		}
		got := it.Event
		if bytes.Equal(e.Metadata, []byte("null")) {
			e.Metadata = nil
		}
		if got.ID != e.ID || got.Type != e.Type || got.Stream != e.Stream || got.Source != e.Source || got.Time != e.Time ||
			!bytes.Equal(got.Data, e.Data) || !bytes.Equal(got.Metadata, e.Metadata) {
			t.Fatalf("item %d:\n%+v, encoding/json finds\n%+v", i, got, e)
		}
	}
}

// benchBody is a JSON array of n events of about 400 bytes.
func benchBody(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"0190f3a2-7c4e-7b1a-9d2e-%012d","type":"page.viewed","stream":"user-%d","time":"2024-07-01T12:00:00.123Z",`+
			`"data":{"url":"https://example.com/products/%d?ref=home","title":"Product page for a thing","referrer":"https://example.com/",`+
			`"screen":{"w":1920,"h":1080},"session":"s-%d","tags":["a","b","c"],"price":19.99},`+
			`"metadata":{"correlation_id":"c-%d","user_agent":"Mozilla/5.0"}}`, i, i, i, i, i)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// BenchmarkDecodeIngest500 decodes a request of 500 events of about 400
// bytes each, reading the body included.
func BenchmarkDecodeIngest500(b *testing.B) {
	body := benchBody(500)
	limits := testLimits(nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		items, p := DecodeIngest(newRequest("application/json", "", body), limits)
		if p != nil || len(items) != 500 {
			b.Fatalf("problem %v, %d items", p, len(items))
		}
		n++
	}
	b.ReportMetric(float64(500*n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkValidate500 checks 500 decoded events (the fast path: one
// Prepare for all).
func BenchmarkValidate500(b *testing.B) {
	body := benchBody(500)
	limits := testLimits(nil)
	items, p := DecodeIngest(newRequest("application/json", "", body), limits)
	if p != nil {
		b.Fatal(p)
	}
	fresh := make([]Item, len(items))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		copy(fresh, items)
		if req, _ := Validate(fresh, limits); len(req.Events) != 500 {
			b.Fatalf("%d valid", len(req.Events))
		}
		n++
	}
	b.ReportMetric(float64(500*n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDecodeIngest500Baseline decodes the body of
// BenchmarkDecodeIngest500 with encoding/json instead (a Decoder over the
// array, a small struct per element, data as json.RawMessage): the cost that
// DecodeIngest's single-pass scanner is measured against.
func BenchmarkDecodeIngest500Baseline(b *testing.B) {
	type envelope struct {
		ID       string          `json:"id"`
		Type     string          `json:"type"`
		Stream   string          `json:"stream"`
		Source   string          `json:"source"`
		Time     string          `json:"time"`
		Data     json.RawMessage `json:"data"`
		Metadata json.RawMessage `json:"metadata"`
	}
	body := benchBody(500)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r := newRequest("application/json", "", body)
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if _, err := dec.Token(); err != nil {
			b.Fatal(err)
		}
		events := make([]sluice.Event, 0, 500)
		for dec.More() {
			var e envelope
			if err := dec.Decode(&e); err != nil {
				b.Fatal(err)
			}
			events = append(events, sluice.Event{ID: e.ID, Type: e.Type, Stream: e.Stream, Source: e.Source, Time: e.Time, Data: e.Data, Metadata: e.Metadata})
		}
		if len(events) != 500 {
			b.Fatalf("%d events", len(events))
		}
		n++
	}
	b.ReportMetric(float64(500*n)/b.Elapsed().Seconds(), "events/s")
}

// TestReadAtMost_ClaimedSize: a Content-Length is a claim; the buffer made
// before the body arrives is bounded, and grows with what comes.
func TestReadAtMost_ClaimedSize(t *testing.T) {
	b, err := readAtMost(strings.NewReader(strings.Repeat("x", 1024)), 10<<20, 10<<20)
	if err != nil || len(b) != 1024 || cap(b) > maxPresize {
		t.Fatalf("1 KiB of a claimed 10 MiB: %d bytes in a buffer of %d, %v; want 1024 in at most %d", len(b), cap(b), err, maxPresize)
	}
	big := strings.Repeat("y", 3*maxPresize+5)
	b, err = readAtMost(strings.NewReader(big), 10<<20, int64(len(big)))
	if err != nil || string(b) != big {
		t.Fatalf("a body of %d bytes: read %d, %v", len(big), len(b), err)
	}
	if _, err := readAtMost(strings.NewReader(big), maxPresize, -1); err != errTooLarge {
		t.Fatalf("over the limit: %v, want errTooLarge", err)
	}
}
