package sink_test

import (
	"encoding/json"
	"testing"

	"github.com/sluicehq/sluice/sink"
)

func TestAppendLine(t *testing.T) {
	got := sink.AppendLine([]byte("x\n"), []byte("{\r\n  \"a\": \"b\\n\",\n  \"c\": 1\n}"))
	if string(got) != "x\n{    \"a\": \"b\\n\",   \"c\": 1 }\n" {
		t.Fatalf("%q", got)
	}
	if !json.Valid(got[2 : len(got)-1]) {
		t.Fatalf("%q is no longer the JSON value", got)
	}
}
