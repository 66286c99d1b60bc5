package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client calls one sluice server. It is safe for concurrent use.
type Client struct {
	base string // scheme://host[/prefix], without a trailing slash
	err  error  // a bad base URL: every call returns it
	key  string
	hc   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithKey sends key with every request (Authorization: Bearer). Reading and
// subscribing need a read or admin key, ingesting and appending a write or
// admin key.
func WithKey(key string) Option {
	return func(c *Client) { c.key = key }
}

// WithHTTPClient makes the client send its requests through hc. Default: a
// client of its own without a timeout, requests being bounded by their
// contexts. A Timeout on hc must exceed the long polls of Subscribe (30s by
// default) and the timeouts given to Wait.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// New returns a client of the server at baseURL ("http://127.0.0.1:7070").
// An invalid baseURL makes every call fail with the reason.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: &http.Client{}}
	u, err := url.Parse(c.base)
	switch {
	case err != nil:
		c.err = fmt.Errorf("sluice client: base URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.err = fmt.Errorf("sluice client: base URL %q: want http(s)://host[:port]", baseURL)
	case u.RawQuery != "" || u.Fragment != "":
		c.err = fmt.Errorf("sluice client: base URL %q: must have no query or fragment", baseURL)
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	return c
}

// maxProblemBytes bounds how much of an error answer is read.
const maxProblemBytes = 64 << 10

// call is one request: path is escaped already ("/v1/streams/a%2Fb/events").
type call struct {
	method string
	path   string
	query  url.Values
	body   []byte // JSON, or nil
	// ok lists the statuses that are success; the answer of any other is
	// an *Error.
	ok []int
}

// do sends the call and decodes a successful answer's JSON into out (if
// not nil). It returns the status of a success, or an *Error, or the
// transport's error.
func (c *Client) do(ctx context.Context, cl call, out any) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	target := c.base + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, target, body)
	if err != nil {
		return 0, fmt.Errorf("sluice client: %w", err)
	}
	if cl.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "sluice-go-client")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return 0, ctxErr
		}
		return 0, err
	}
	defer resp.Body.Close()
	ok := false
	for _, s := range cl.ok {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		return resp.StatusCode, readError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProblemBytes))
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return 0, ctxErr
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return resp.StatusCode, fmt.Errorf("sluice client: %s %s: decode the answer: %w", cl.method, cl.path, err)
	}
	return resp.StatusCode, nil
}

// escape path-escapes a stream or subscription name as one segment of a
// path: "/" becomes %2F. The names "", "." and ".." cannot be one segment
// (the server's router cleans them away).
func escape(what, name string) (string, error) {
	switch name {
	case "", ".", "..":
		return "", fmt.Errorf("sluice client: %s name %q cannot be used in a URL", what, name)
	}
	return url.PathEscape(name), nil
}
