package sink

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// HTTPClient is the client of the sinks that speak HTTP: a transport of
// its own (so that the sink's Close closes its connections) that keeps a
// few connections (live delivery, a replay and a redrive at once), waits
// timeout at most for an answer's headers, and follows no redirect (the
// body would go where nobody configured it to: the 3xx answer is the
// sink's to report). tlsConfig may be nil.
func HTTPClient(timeout time.Duration, tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsConfig,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: timeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
