package otlptest

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, with its resource's attributes.
type Span struct {
	Name     string
	TraceID  string // hex
	SpanID   string // hex
	ParentID string // hex; "" for a root span
	Kind     tracepb.Span_SpanKind
	Start    uint64 // Unix nanoseconds
	End      uint64
	Attrs    map[string]any
	Resource map[string]any
	Error    bool // status code error
}

// Receiver is an OTLP/HTTP trace receiver on a loopback port.
type Receiver struct {
	// URL is its base URL, to configure as the OTLP endpoint.
	URL string

	mu    sync.Mutex
	spans []Span
	bad   []string
}

// New starts a receiver, closed when the test ends. A request that is
// not a valid OTLP/HTTP protobuf export fails the test.
func New(tb testing.TB) *Receiver {
	tb.Helper()
	rc := &Receiver{}
	ts := httptest.NewServer(http.HandlerFunc(rc.serve))
	rc.URL = ts.URL
	tb.Cleanup(func() {
		ts.Close()
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, b := range rc.bad {
			tb.Errorf("otlp receiver: %s", b)
		}
	})
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/v1/traces":
		rc.fail(w, "unexpected "+r.Method+" "+r.URL.Path)
		return
	case r.Header.Get("Content-Type") != "application/x-protobuf":
		rc.fail(w, "content type "+r.Header.Get("Content-Type"))
		return
	case err != nil:
		rc.fail(w, "read: "+err.Error())
		return
	}
	if err := proto.Unmarshal(body, &req); err != nil {
		rc.fail(w, "decode: "+err.Error())
		return
	}
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					Kind: s.GetKind(), Start: s.GetStartTimeUnixNano(), End: s.GetEndTimeUnixNano(),
					Attrs: attrs(s.GetAttributes()), Resource: res, Error: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR}
				if len(s.GetParentSpanId()) > 0 {
					sp.ParentID = hex.EncodeToString(s.GetParentSpanId())
				}
				got = append(got, sp)
			}
		}
	}
	rc.mu.Lock()
	rc.spans = append(rc.spans, got...)
	rc.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (rc *Receiver) fail(w http.ResponseWriter, why string) {
	rc.mu.Lock()
	rc.bad = append(rc.bad, why)
	rc.mu.Unlock()
	http.Error(w, why, http.StatusBadRequest)
}

// Spans returns the spans received so far.
func (rc *Receiver) Spans() []Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Span(nil), rc.spans...)
}

// attrs turns OTLP attributes into a map of Go values (string, int64,
// float64, bool).
func attrs(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = v.IntValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = v.DoubleValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = v.BoolValue
		}
	}
	return m
}
