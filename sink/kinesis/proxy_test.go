package kinesis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// faultProxy stands between the sink and kinesalite, which never
// throttles or fails, and makes it fail on command. It reads each
// PutRecords request, takes out the records it is told to fail (by their
// event's id, from the record's data), forwards the others and merges
// ProvisionedThroughputExceededException or InternalFailure entries into
// kinesalite's real answer at their indexes, with the FailedRecordCount to
// match: a record reported failed was not stored. It can also answer whole
// requests with an error, refuse for good the requests holding some ids,
// drop connections, lose answers, and stall.
type faultProxy struct {
	target string // kinesalite's URL
	srv    *httptest.Server

	mu       sync.Mutex
	answer   *apiError           // every request gets this error; nil: none
	refused  map[string]bool     // a request holding these ids: ValidationException
	flaky    map[string]*flakyID // these ids fail, per record
	drop     bool                // close the connection before forwarding
	lose     bool                // forward, then close the connection unanswered
	stall    bool                // hold requests until released or abandoned
	released chan struct{}       // closed to release the stalled requests
	held     int                 // requests stalled so far
	requests int                 // requests seen
	puts     []int               // the number of records of each PutRecords request seen
}

// apiError is an error answer of Kinesis: its HTTP status and __type.
type apiError struct {
	status int
	code   string
}

type flakyID struct {
	times int    // failures left
	code  string // the ErrorCode they get
}

// newFaultProxy starts a proxy to kinesalite at target and closes it when
// tb ends.
func newFaultProxy(tb testing.TB, target string) *faultProxy {
	p := &faultProxy{target: target, refused: map[string]bool{}, flaky: map[string]*flakyID{}, released: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	tb.Cleanup(func() {
		p.release()
		p.srv.Close()
	})
	return p
}

// URL is the proxy's, for the sink's endpoint.
func (p *faultProxy) URL() string { return p.srv.URL }

// Answer makes every request fail with status and the error type code,
// until Answer(0, "").
func (p *faultProxy) Answer(status int, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answer = nil
	if status != 0 {
		p.answer = &apiError{status, code}
	}
}

// Refuse makes every request that holds a record of these ids fail with
// a ValidationException, as Kinesis refuses a request with a record it
// cannot take; the ids replace those refused before.
func (p *faultProxy) Refuse(ids []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.refused) // the refused set is replaced; none: every record is taken
	for _, id := range ids {
		p.refused[id] = true
	}
}

// Flaky makes the records of these ids fail with the ErrorCode code the
// next times times they come, while the rest of their requests is stored.
func (p *faultProxy) Flaky(ids []string, times int, code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.flaky[id] = &flakyID{times, code}
	}
}

// Drop makes every request's connection close before it is forwarded
// (true) or not (false).
func (p *faultProxy) Drop(on bool) { p.set(&p.drop, on) }

// Lose makes every request go to kinesalite and its answer be lost: the
// connection closes instead.
func (p *faultProxy) Lose(on bool) { p.set(&p.lose, on) }

// Stall holds every request from now on until its client gives up or
// release is called.
func (p *faultProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stall {
		p.stall, p.released = true, make(chan struct{})
	}
}

func (p *faultProxy) set(b *bool, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	*b = on
}

// release lets the stalled requests go on, and stops stalling.
func (p *faultProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stall {
		p.stall = false
		close(p.released)
	}
}

// Requests returns how many requests came so far.
func (p *faultProxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// Held returns how many requests were stalled so far.
func (p *faultProxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// Puts returns the number of records of every PutRecords request seen.
func (p *faultProxy) Puts() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.puts...)
}

func (p *faultProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.requests++
	answer, drop, lose, stall, released := p.answer, p.drop, p.lose, p.stall, p.released
	p.mu.Unlock()
	if stall {
		p.mu.Lock()
		p.held++
		p.mu.Unlock()
		select {
		case <-r.Context().Done():
			return
		case <-released:
		}
	}
	if drop {
		hangUp(w)
		return
	}
	if answer != nil {
		writeError(w, *answer, "injected by the test")
		return
	}
	fail := map[int]string{} // index → ErrorCode
	if r.Header.Get("X-Amz-Target") == "Kinesis_20131202.PutRecords" {
		var refuse bool
		if body, fail, refuse, err = p.putRecords(body); err != nil {
			writeError(w, apiError{http.StatusBadRequest, "SerializationException"}, err.Error())
			return
		}
		if refuse {
			writeError(w, apiError{http.StatusBadRequest, "ValidationException"}, "1 validation error detected: a record was refused by the test")
			return
		}
	}
	status, header, answerBody, err := p.forward(r, body, len(fail) > 0)
	if err != nil {
		writeError(w, apiError{http.StatusBadGateway, "InternalFailure"}, err.Error())
		return
	}
	if lose {
		hangUp(w)
		return
	}
	if status == http.StatusOK && len(fail) > 0 {
		if answerBody, err = mergeFailures(answerBody, fail); err != nil {
			writeError(w, apiError{http.StatusBadGateway, "InternalFailure"}, err.Error())
			return
		}
	}
	for _, h := range []string{"Content-Type", "X-Amzn-Requestid"} {
		w.Header().Set(h, header.Get(h))
	}
	w.WriteHeader(status)
	w.Write(answerBody)
}

// putRecords reads a PutRecords request: it returns the request to
// forward, without the records to fail, the ErrorCode of each of those by
// its index in the original request, and whether the request holds a
// refused record. A request by StreamARN gets the stream's name beside it:
// kinesalite, older than StreamARN, needs it.
func (p *faultProxy) putRecords(body []byte) (forward []byte, fail map[int]string, refuse bool, err error) {
	var req map[string]json.RawMessage
	var records []json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, nil, false, err
	}
	if err := json.Unmarshal(req["Records"], &records); err != nil {
		return nil, nil, false, err
	}
	changed := false
	if arn, ok := req["StreamARN"]; ok && req["StreamName"] == nil {
		var s string
		_ = json.Unmarshal(arn, &s)
		_, name, _ := strings.Cut(s, ":stream/")
		req["StreamName"], _ = json.Marshal(name)
		changed = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.puts = append(p.puts, len(records))
	fail = map[int]string{}
	if len(p.refused) == 0 && len(p.flaky) == 0 && !changed {
		return body, fail, false, nil // nothing to look for in the records
	}
	ids := make([]string, len(records))
	for i, raw := range records {
		if ids[i] = recordEventID(raw); p.refused[ids[i]] {
			return nil, nil, true, nil
		}
	}
	kept := make([]json.RawMessage, 0, len(records))
	for i, raw := range records {
		if f := p.flaky[ids[i]]; f != nil && f.times > 0 {
			f.times--
			fail[i] = f.code
			continue
		}
		kept = append(kept, raw)
	}
	if len(kept) == 0 {
		return nil, fail, false, nil
	}
	req["Records"], _ = json.Marshal(kept)
	forward, err = json.Marshal(req)
	return forward, fail, false, err
}

// recordEventID returns the id of the event that a PutRecords entry's
// data holds, "" when it holds none.
func recordEventID(raw json.RawMessage) string {
	var rec struct{ Data []byte }
	var ev struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &rec) != nil || json.Unmarshal(rec.Data, &ev) != nil {
		return ""
	}
	return ev.ID
}

// forward sends the request, with body, to kinesalite and returns its
// answer. A PutRecords whose every record fails (body nil) is not sent:
// its answer is an empty success for mergeFailures to fill.
func (p *faultProxy) forward(r *http.Request, body []byte, failing bool) (int, http.Header, []byte, error) {
	if body == nil && failing {
		h := http.Header{"Content-Type": {"application/x-amz-json-1.1"}}
		return http.StatusOK, h, []byte(`{"FailedRecordCount":0,"Records":[]}`), nil
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for _, h := range []string{"Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date"} {
		req.Header.Set(h, r.Header.Get(h))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, b, err
}

// mergeFailures puts failure entries into kinesalite's PutRecords answer
// at the indexes of fail, and counts them in FailedRecordCount.
func mergeFailures(answer []byte, fail map[int]string) ([]byte, error) {
	var res map[string]json.RawMessage
	var stored []json.RawMessage
	var failed int
	if err := json.Unmarshal(answer, &res); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(res["Records"], &stored); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(res["FailedRecordCount"], &failed); err != nil {
		return nil, err
	}
	merged := make([]json.RawMessage, 0, len(stored)+len(fail))
	for i := 0; len(stored) > 0 || len(fail) > 0; i++ {
		code, ok := fail[i]
		if !ok {
			merged, stored = append(merged, stored[0]), stored[1:]
			continue
		}
		delete(fail, i)
		msg := "Internal service failure."
		if code == "ProvisionedThroughputExceededException" {
			msg = "Rate exceeded for shard shardId-000000000000 in stream test under account 000000000000."
		}
		entry, _ := json.Marshal(map[string]string{"ErrorCode": code, "ErrorMessage": msg})
		merged = append(merged, entry)
		failed++
	}
	res["Records"], _ = json.Marshal(merged)
	res["FailedRecordCount"], _ = json.Marshal(failed)
	return json.Marshal(res)
}

// writeError answers as Kinesis does when it refuses a request.
func writeError(w http.ResponseWriter, e apiError, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(e.status)
	fmt.Fprintf(w, `{"__type":%q,"message":%q}`, e.code, msg)
}

// hangUp closes the request's connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}
