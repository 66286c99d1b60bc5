package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice"
)

// encoded is v as encoding/json's Encoder without HTML escaping writes it.
func encoded(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// written is the body writeBody sends for appendBody.
func written(appendBody func([]byte) []byte) []byte {
	rec := httptest.NewRecorder()
	writeBody(rec, 200, jsonContentType, appendBody)
	return rec.Body.Bytes()
}

// problemBody is the shape writeProblem sends, for encoding/json.
type problemBody struct {
	Type string `json:"type"`
	*Problem
}

// checkAnswers compares every answer written by hand, made of these
// values, with encoding/json's output, byte for byte.
func checkAnswers(t *testing.T, rejected []EventProblem, n int, pos sluice.Position, detail string, version *uint64) {
	t.Helper()
	ingest := ingestAnswer{Accepted: n, Duplicates: n / 2, Rejected: rejected, Quarantined: n % 3, Position: pos}
	seg := segmentAnswer{Success: n%2 == 0, Accepted: n, Duplicates: n + 1, Rejected: rejected}
	app := appendAnswer{Position: pos, Version: uint64(n), Duplicates: n}
	p := problemf(400+n%100, "code_"+detail, detail)
	p.Errors, p.CurrentVersion = rejected, version
	for _, c := range []struct {
		got  []byte
		want any
	}{
		{written(ingest.appendJSON), ingest},
		{written(seg.appendJSON), seg},
		{written(app.appendJSON), app},
		{written(p.appendJSON), problemBody{"https://sluice.dev/problems/" + p.Code, p}},
	} {
		if want := encoded(t, c.want); !bytes.Equal(c.got, want) {
			t.Fatalf("wrote\n%s\nencoding/json writes\n%s", c.got, want)
		}
	}
}

// TestAnswers_EncodingJSON: the answers written by hand are byte for byte
// those of encoding/json.
func TestAnswers_EncodingJSON(t *testing.T) {
	v := uint64(7)
	for _, rejected := range [][]EventProblem{nil, {}, {
		{Index: 0, Message: "an event must be a JSON object"},
		{Index: 3, ID: "id-<3>&\"\n", Path: "/data/price", Keyword: "minimum", Message: "must be >= 0 \u2028 é \xff"},
	}} {
		checkAnswers(t, rejected, 0, 0, "", nil)
		checkAnswers(t, rejected, 501, 1<<40, "3 of 5 events are invalid; nothing was stored", &v)
	}
}

// FuzzAnswers: whatever the values, the answers are encoding/json's.
func FuzzAnswers(f *testing.F) {
	f.Add(0, "", "", "", "", 0, uint64(0), "")
	f.Add(-3, "id\x00<>", "/a~1b", "type", "é\u2029\xfe", 99, uint64(1<<63), "detail\t")
	f.Fuzz(func(t *testing.T, index int, id, path, keyword, message string, n int, pos uint64, detail string) {
		rejected := []EventProblem{{Index: index, ID: id, Path: path, Keyword: keyword, Message: message}}
		checkAnswers(t, rejected, n, sluice.Position(pos), detail, &pos)
	})
}

// TestWriteBody_Allocs: an answer costs no allocation of its own once the
// pool holds a buffer.
func TestWriteBody_Allocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop buffers")
	}
	rec := httptest.NewRecorder()
	a := ingestAnswer{Accepted: 500, Rejected: []EventProblem{}, Position: 123456}
	allocs := testing.AllocsPerRun(100, func() {
		rec.Body.Reset()
		writeBody(rec, 200, jsonContentType, a.appendJSON)
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per answer, want 0", allocs)
	}
}
