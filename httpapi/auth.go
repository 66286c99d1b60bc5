package httpapi

import (
	"context"
	"crypto/sha256"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// keyring finds keys by secret and holds each key's rate limiter.
type keyring struct {
	bySecret map[[32]byte]*keyState
	origins  map[string]bool // every origin some key allows; "*" if any key allows all
}

type keyState struct {
	Key
	bucket *tokenBucket // nil: no rate limit
}

func newKeyring(cfg Config) *keyring {
	kr := &keyring{bySecret: map[[32]byte]*keyState{}, origins: map[string]bool{}}
	for _, k := range cfg.Keys {
		ks := &keyState{Key: k}
		if k.Rate > 0 {
			ks.bucket = newTokenBucket(k.Rate, k.Burst)
		}
		kr.bySecret[sha256.Sum256([]byte(k.Secret))] = ks
		for _, o := range k.Origins {
			kr.origins[o] = true
		}
	}
	return kr
}

// lookup finds the key by secret. Secrets are compared by their SHA-256, so
// the lookup's time says nothing about how much of a secret was right.
func (kr *keyring) lookup(secret string) *keyState {
	return kr.bySecret[sha256.Sum256([]byte(secret))]
}

// secretOf returns the key a request carries: Bearer, Basic user name, or
// (on ingest, for navigator.sendBeacon) ?key=.
func secretOf(r *http.Request, queryAllowed bool) string {
	auth := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(auth, "Bearer "); ok {
		return strings.TrimSpace(token)
	}
	if user, _, ok := r.BasicAuth(); ok {
		return user
	}
	if queryAllowed {
		return r.URL.Query().Get("key")
	}
	return ""
}

// allows reports whether role r may use a route that needs role need.
func (r Role) allows(need Role) bool {
	return r == RoleAdmin || r == need
}

type keyContext struct{}

// keyFrom returns the key that authorized the request.
func keyFrom(r *http.Request) *keyState {
	ks, _ := r.Context().Value(keyContext{}).(*keyState)
	return ks
}

// authorize checks the key, its role, the request's origin and the key's
// rate before h runs. need "" lets every request through (health checks).
func (s *Server) authorize(need Role, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if need == "" {
			h(w, r)
			return
		}
		r, p := s.authenticate(w, r, need, secretOf(r, need == RoleWrite))
		if p != nil {
			writeProblem(w, p)
			return
		}
		h(w, r)
	}
}

// authenticate finds the key of secret and checks its role, the request's
// origin (answering CORS when it is allowed) and the key's rate. It returns
// the request with the key in its context, or why not.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, need Role, secret string) (*http.Request, *Problem) {
	if secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
		return r, problemf(http.StatusUnauthorized, "missing_key", "send a key: Authorization: Bearer <key>")
	}
	ks := s.keys.lookup(secret)
	if ks == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
		return r, problemf(http.StatusUnauthorized, "unknown_key", "the key is not known")
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		if !slices.Contains(ks.Origins, origin) && !slices.Contains(ks.Origins, "*") {
			return r, problemf(http.StatusForbidden, "origin_not_allowed", "key "+ks.Name+" may not be used from "+origin)
		}
		setCORS(w.Header(), origin)
	}
	if !ks.Role.allows(need) {
		return r, problemf(http.StatusForbidden, "role_not_allowed", "key "+ks.Name+" has role "+string(ks.Role)+"; this needs "+string(need))
	}
	if ks.bucket != nil {
		if wait := ks.bucket.take(time.Now()); wait > 0 {
			p := problemf(http.StatusTooManyRequests, "rate_limited", "key "+ks.Name+" sends faster than its limit")
			p.RetryAfter = wait
			return r, p
		}
	}
	return r.WithContext(contextWithKey(r, ks)), nil
}

func setCORS(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", "Retry-After, Location")
}

// preflight answers a CORS preflight: allowed when some key allows the
// origin (the preflight carries no key; the real request is checked
// against its own key).
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		writeProblem(w, problemf(http.StatusNotFound, "not_found", "OPTIONS is only for CORS preflights"))
		return
	}
	if !s.keys.origins[origin] && !s.keys.origins["*"] {
		writeProblem(w, problemf(http.StatusForbidden, "origin_not_allowed", "no key may be used from "+origin))
		return
	}
	h := w.Header()
	setCORS(h, origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding, Last-Event-ID, X-Retry-Count")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// tokenBucket is a rate limiter: rate tokens a second, at most burst.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take takes a token, or returns how long until one is there.
func (b *tokenBucket) take(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

func contextWithKey(r *http.Request, ks *keyState) context.Context {
	return context.WithValue(r.Context(), keyContext{}, ks)
}
