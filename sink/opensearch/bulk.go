package opensearch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// appendAction appends the action line of a document: index it, in
// index, as id (a document of that id is replaced).
func appendAction(b []byte, index []byte, id string) []byte {
	b = append(b, `{"index":{"_index":"`...)
	b = append(b, index...) // a valid index name needs no escaping
	b = append(b, `","_id":`...)
	if strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' || r == 0xfffd }) {
		q, _ := json.Marshal(id) // a string always marshals
		b = append(b, q...)
	} else {
		b = append(b, '"')
		b = append(b, id...)
		b = append(b, '"')
	}
	return append(b, "}}\n"...)
}

// appendSource appends a document's source line: the record's body, its
// line breaks (white space between JSON tokens: a JSON string holds none)
// written as spaces, so that the body is one line of the NDJSON.
func appendSource(b, body []byte) []byte {
	start := len(b)
	b = append(b, body...)
	for i := start; i < len(b); i++ {
		if b[i] == '\n' {
			b[i] = ' '
		}
	}
	return append(b, '\n')
}

// bulkResponse is what the _bulk API answers with HTTP 200. Its
// "errors" member is not read: every item's status decides, whatever it
// says.
type bulkResponse struct {
	// Items are the outcomes of the actions, in the request's order.
	Items []bulkItem `json:"items"`
}

// bulkItem is one action's outcome, under the action's name.
type bulkItem struct {
	Index  *itemResult `json:"index"`
	Create *itemResult `json:"create"`
	Update *itemResult `json:"update"`
	Delete *itemResult `json:"delete"`
}

// itemResult is an action's status and, when it failed, why.
type itemResult struct {
	Status int        `json:"status"`
	Error  *itemError `json:"error"`
}

// itemError is OpenSearch's error object: a type and a reason, perhaps
// caused by another.
type itemError struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *itemError `json:"caused_by"`
}

// String is the error's type and reason, and those of up to two of its
// causes, in at most maxErrorText bytes.
func (e *itemError) String() string {
	var b strings.Builder
	for i, c := 0, e; c != nil && i < 3; i, c = i+1, c.CausedBy {
		if i > 0 {
			b.WriteString(", caused by ")
		}
		b.WriteString(c.Type)
		if c.Reason != "" {
			b.WriteString(": ")
			b.WriteString(c.Reason)
		}
	}
	return truncate(b.String(), maxErrorText)
}

// maxErrorText bounds the text an error keeps of an answer.
const maxErrorText = 512

// truncate cuts s to at most n bytes, on a character's boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// parseBulkResponse reads the answer of a _bulk request of n actions and
// returns each action's result, in order: an error when it is not a bulk
// answer, or not one of n results each with an HTTP status.
func parseBulkResponse(body []byte, n int) ([]itemResult, error) {
	var r bulkResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("not a bulk answer: %w", err)
	}
	if r.Items == nil {
		return nil, errors.New("not a bulk answer: no items")
	}
	if len(r.Items) != n {
		return nil, fmt.Errorf("the answer has %d items for %d documents", len(r.Items), n)
	}
	out := make([]itemResult, n)
	for i, it := range r.Items {
		var res *itemResult
		for _, a := range []*itemResult{it.Index, it.Create, it.Update, it.Delete} {
			if a != nil {
				if res != nil {
					return nil, fmt.Errorf("item %d has several actions", i)
				}
				res = a
			}
		}
		switch {
		case res == nil:
			return nil, fmt.Errorf("item %d has no index, create, update or delete", i)
		case res.Status < 100 || res.Status > 599:
			return nil, fmt.Errorf("item %d has no HTTP status (%d)", i, res.Status)
		case res.Status < 300 && res.Error != nil:
			return nil, fmt.Errorf("item %d: status %d with an error", i, res.Status)
		}
		out[i] = *res
	}
	return out, nil
}
