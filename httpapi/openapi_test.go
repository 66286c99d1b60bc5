package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// The contract: every response of every test in this package is checked
// against docs/openapi.yaml (see harness.do).
var contract struct {
	once sync.Once
	v    validator.Validator
	err  string
}

func openAPI(t *testing.T) validator.Validator {
	t.Helper()
	contract.once.Do(func() {
		spec, err := os.ReadFile("../docs/openapi.yaml")
		if err != nil {
			contract.err = err.Error()
			return
		}
		doc, err := libopenapi.NewDocument(spec)
		if err != nil {
			contract.err = err.Error()
			return
		}
		v, errs := validator.NewValidator(doc)
		if len(errs) > 0 {
			contract.err = errs[0].Error()
			return
		}
		if ok, verrs := v.ValidateDocument(); !ok {
			var msgs []string
			for _, e := range verrs {
				msgs = append(msgs, e.Error())
			}
			contract.err = "docs/openapi.yaml is not valid OpenAPI: " + strings.Join(msgs, "; ")
			return
		}
		contract.v = v
	})
	if contract.err != "" {
		t.Fatal(contract.err)
	}
	return contract.v
}

// checkContract fails the test when the response does not match the
// OpenAPI document. body is the response's body, already read.
func checkContract(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	if req.Method == http.MethodOptions {
		return // CORS preflights are not API operations
	}
	copy := *resp
	copy.Body = io.NopCloser(bytes.NewReader(body))
	if ok, errs := openAPI(t).ValidateHttpResponse(req, &copy); !ok {
		for _, e := range errs {
			if (resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed) && strings.Contains(e.Message, "not found") {
				continue // an operation outside the API: the document cannot describe it
			}
			t.Errorf("%s %s → %d does not match docs/openapi.yaml: %s (%s)", req.Method, req.URL.Path, resp.StatusCode, e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  %s: %s", se.FieldPath, se.Reason)
			}
		}
	}
}

func TestOpenAPIDocument(t *testing.T) {
	openAPI(t)
}
