package sink

import (
	"net/http"
	"strconv"
	"time"
)

// ParseRetryAfter reads an HTTP Retry-After header: seconds or an HTTP
// date; 0 when there is none or it cannot be read. The wait goes to
// sluice.RetryAfter.
func ParseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}
