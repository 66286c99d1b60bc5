package npmpeers

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestAbortedRequest: a request its client gives up on halfway ends only
// that request; dynalite left to itself rethrows the error and exits (the
// DynamoDB import's resume test lost its peer that way in CI).
func TestAbortedRequest(t *testing.T) {
	p, err := Start("dynalite", "--port", "{port}")
	Skip(t, err)
	defer p.Stop()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: dynalite\r\nContent-Length: 1000\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n\r\n{\"Limit\":")
	c.Close()
	// Node handles the abort within the next turns of its loop: by the end
	// of twenty requests, one after another, a peer that exits on it has.
	for i := range 20 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+p.Addr+"/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("request %d after the aborted one: %v; the peer's output:\n%s", i, err, p.log.String())
		}
		resp.Body.Close()
	}
	select {
	case <-p.exited:
		t.Fatalf("dynalite exited after a request was aborted:\n%s", p.log.String())
	default:
	}
}
