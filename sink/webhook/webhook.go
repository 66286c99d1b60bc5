package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

// Config is a webhook sink's own fields.
type Config struct {
	// URL is where batches are POSTed: http or https. Required.
	URL string `yaml:"url"`
	// Secret signs every delivery (Standard Webhooks): whsec_ and the
	// base64 of 24 to 64 random bytes. Default "" (unsigned).
	Secret string `yaml:"secret"`
	// Secrets are more secrets that sign each delivery too, for rotation:
	// the receiver accepts any one signature it knows. Default none.
	Secrets []string `yaml:"secrets"`
	// Headers are sent with every delivery (an Authorization, say).
	// Default none.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one delivery, from connecting to the end of the
	// answer. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

const (
	defaultTimeout = 10 * time.Second
	secretPrefix   = "whsec_"
	// maxErrorBody is how much of a failed answer's body the error keeps.
	maxErrorBody = 512
)

var _ sink.Destination = (*Config)(nil)

// Validate returns every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: %q is not an http:// or https:// URL", c.URL))
	}
	if c.Secret != "" {
		if _, err := decodeSecret(c.Secret); err != nil {
			errs = append(errs, fmt.Errorf("secret: %w", err))
		}
	}
	for i, s := range c.Secrets {
		if _, err := decodeSecret(s); err != nil {
			errs = append(errs, fmt.Errorf("secrets[%d]: %w", i, err))
		}
	}
	for name := range c.Headers {
		if strings.HasPrefix(strings.ToLower(name), "webhook-") || strings.EqualFold(name, "content-type") {
			errs = append(errs, fmt.Errorf("headers: %q is the sink's own header", name))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must not be negative"))
	}
	return errors.Join(errs...)
}

// secrets are every secret that signs, Secret first.
func (c *Config) secrets() []string {
	var out []string
	if c.Secret != "" {
		out = append(out, c.Secret)
	}
	return append(out, c.Secrets...)
}

// decodeSecret returns a whsec_ secret's key.
func decodeSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New("a secret starts with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("a secret is whsec_ and base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("a secret's key is 24 to 64 bytes, not %d", len(key))
	}
	return key, nil
}

// Limits: a generic receiver takes a few hundred events a request; a
// batch is sent as soon as there is one (no linger).
func (c *Config) Limits() sink.Limits {
	return sink.Limits{Default: sink.Batch{MaxEvents: 500, MaxBytes: 1 << 20}}
}

// Open returns the sink; it does not contact the receiver.
func (c *Config) Open(_ context.Context, env sink.Env) (sluice.Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{url: c.URL, headers: c.Headers, timeout: c.Timeout}
	if s.timeout == 0 {
		s.timeout = defaultTimeout
	}
	for _, secret := range c.secrets() {
		key, _ := decodeSecret(secret) // validated
		s.keys = append(s.keys, key)
	}
	s.client = sink.HTTPClient(s.timeout, nil)
	return s, nil
}

// Sink POSTs batches to a receiver.
type Sink struct {
	url     string
	headers map[string]string
	keys    [][]byte
	timeout time.Duration
	client  *http.Client
}

var _ sluice.Sink = (*Sink)(nil)

// Deliver POSTs one batch, {"events": [record, …]}, signed, and maps the
// answer: 2xx delivered; 408, 429 and 5xx retried (after Retry-After);
// 410 disables the sink; other answers refused for good.
func (s *Sink) Deliver(ctx context.Context, records []sluice.SinkRecord) error {
	body := Body(records)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return sluice.Permanent(fmt.Errorf("webhook: %w", err))
	}
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	id := MessageID(records)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", ts)
	if len(s.keys) > 0 {
		req.Header.Set("webhook-signature", Sign(s.keys, id, ts, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err) // retried: the receiver may be down
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so that the connection is kept
	return outcome(resp, excerpt)
}

// outcome maps the receiver's answer.
func outcome(resp *http.Response, excerpt []byte) error {
	code := resp.StatusCode
	if code >= 200 && code < 300 {
		return nil
	}
	err := fmt.Errorf("webhook: %s", resp.Status)
	if len(bytes.TrimSpace(excerpt)) > 0 {
		err = fmt.Errorf("webhook: %s: %s", resp.Status, bytes.TrimSpace(excerpt))
	}
	switch {
	case code == http.StatusGone:
		return fmt.Errorf("%w: %w", sluice.ErrSinkDisabled, err)
	case code == http.StatusTooManyRequests || code >= 500 || code == http.StatusRequestTimeout:
		return sluice.RetryAfter(err, sink.ParseRetryAfter(resp.Header.Get("Retry-After")))
	case code >= 300 && code < 400:
		return sluice.Permanent(fmt.Errorf("%w: redirected to %q; point the sink's url there", err, resp.Header.Get("Location")))
	}
	return sluice.Permanent(err)
}

// Close releases the idle connections.
func (s *Sink) Close() error {
	s.client.CloseIdleConnections()
	return nil
}

// Body is a batch as a webhook delivers it: {"events": [record, …]}, each
// record's body as it is.
func Body(records []sluice.SinkRecord) []byte {
	size := 16
	for _, r := range records {
		size += len(r.Body) + 1
	}
	b := append(make([]byte, 0, size), `{"events":[`...)
	for i, r := range records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r.Body...)
	}
	return append(b, "]}"...)
}

// MessageID is the webhook-id of a batch: the same records give the same
// id, so that a receiver can tell a retried batch from a new one. It names
// the first and last positions and a hash of all of them.
func MessageID(records []sluice.SinkRecord) string {
	if len(records) == 0 {
		return "msg_empty"
	}
	h := fnv.New64a()
	var b [8]byte
	for _, r := range records {
		p := uint64(r.Event.Position)
		for i := range b {
			b[i] = byte(p >> (8 * i))
		}
		h.Write(b[:])
	}
	return fmt.Sprintf("msg_%d-%d-%016x", records[0].Event.Position, records[len(records)-1].Event.Position, h.Sum64())
}

// Sign returns the webhook-signature header of a delivery: "v1,<base64 of
// HMAC-SHA256 over id.timestamp.body>" for each key, space-separated.
func Sign(keys [][]byte, id, timestamp string, body []byte) string {
	sigs := make([]string, len(keys))
	for i, key := range keys {
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(signature(key, id, timestamp, body))
	}
	return strings.Join(sigs, " ")
}

func signature(key []byte, id, timestamp string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Errors of Verify.
var (
	ErrNoSignature = errors.New("webhook: no webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp   = errors.New("webhook: the timestamp is too old or too new")
	ErrSignature   = errors.New("webhook: no signature matches")
)

// Verify checks a delivery as a receiver gets it: that one of its
// signatures is made with one of the secrets (whsec_…), and that its
// timestamp is within tolerance of now (the spec suggests 5 minutes), so
// that a captured delivery cannot be replayed later.
func Verify(secrets []string, h http.Header, body []byte, tolerance time.Duration) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrNoSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := time.Since(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	for _, secret := range secrets {
		key, err := decodeSecret(secret)
		if err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		want := signature(key, id, ts, body)
		for _, sig := range strings.Fields(sigs) {
			v, b64, ok := strings.Cut(sig, ",")
			if !ok || v != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrSignature
}
