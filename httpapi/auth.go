package httpapi

import (
	"context"
	"crypto/sha256"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
)

// keyring finds keys by secret and holds each key's rate limiter. Its
// keys are the configuration's and those of the store, read again every
// keyRefresh (refresh), so that a key revoked on one node is refused by
// every node sharing the store within a second, without a store query per
// request.
type keyring struct {
	store  sluice.Keys
	limits Limits
	// config are the configuration's keys, for good.
	config []*keyState
	// writeOrigins are the origins of the write keys generated in the
	// store (Config.WriteKeyOrigins).
	writeOrigins []string
	mu           sync.Mutex // one refresh at a time
	set          atomic.Pointer[keySet]
}

// keySet is the keys in use at one time; never changed once published.
type keySet struct {
	bySecret map[[32]byte]*keyState
	origins  map[string]bool // every origin some key allows; "*" if any key allows all
}

type keyState struct {
	Key
	// id is the store's id of the key; "" for the configuration's keys.
	id     string
	hash   [32]byte     // the SHA-256 of the secret
	bucket *tokenBucket // nil: no rate limit
}

// keyRefresh is how often every node reads the store's keys again: a key
// revoked elsewhere is refused within it (decision D71).
const keyRefresh = 500 * time.Millisecond

func newKeyring(cfg Config, store sluice.Keys) *keyring {
	kr := &keyring{store: store, limits: cfg.Limits, writeOrigins: cfg.WriteKeyOrigins}
	for _, k := range cfg.Keys {
		kr.config = append(kr.config, newKeyState(k, sha256.Sum256([]byte(k.Secret)), "", nil))
	}
	kr.publish(nil)
	return kr
}

func newKeyState(k Key, hash [32]byte, id string, prev *keyState) *keyState {
	ks := &keyState{Key: k, id: id, hash: hash}
	switch {
	case k.Rate <= 0:
	case prev != nil && prev.Rate == k.Rate && prev.Burst == k.Burst:
		ks.bucket = prev.bucket // a refresh keeps what the key has used
	default:
		ks.bucket = newTokenBucket(k.Rate, k.Burst)
	}
	return ks
}

// publish makes the configuration's keys and the store's records rs the
// keys in use. Generated (bootstrap) records count only while no key is
// configured; revoked ones not at all.
func (kr *keyring) publish(rs []sluice.KeyRecord) {
	prev := map[string]*keyState{}
	if old := kr.set.Load(); old != nil {
		for _, ks := range old.bySecret {
			if ks.id != "" {
				prev[ks.id] = ks
			}
		}
	}
	set := &keySet{bySecret: map[[32]byte]*keyState{}, origins: map[string]bool{}}
	add := func(ks *keyState) {
		if set.bySecret[ks.hash] != nil {
			return // the configuration's key comes first
		}
		set.bySecret[ks.hash] = ks
		for _, o := range ks.Origins {
			set.origins[o] = true
		}
	}
	for _, ks := range kr.config {
		add(ks)
	}
	for _, r := range rs {
		if !r.RevokedAt.IsZero() || (r.Bootstrap && len(kr.config) > 0) {
			continue
		}
		add(newKeyState(kr.keyOf(r), r.Hash, r.ID, prev[r.ID]))
	}
	kr.set.Store(set)
}

// keyOf is the key of a store's record, with the configured defaults.
func (kr *keyring) keyOf(r sluice.KeyRecord) Key {
	k := Key{Name: r.Name, Role: Role(r.Role), Origins: kr.originsOf(r), Types: r.Types, Rate: r.Rate, Burst: r.Burst}
	kr.limits.keyDefaults(&k)
	return k
}

// originsOf is the origins a store's key may be used from: a generated
// write key's are Config.WriteKeyOrigins.
func (kr *keyring) originsOf(r sluice.KeyRecord) []string {
	if r.Bootstrap && Role(r.Role) == RoleWrite {
		return kr.writeOrigins
	}
	return r.Origins
}

// refresh reads the store's keys and makes them the keys in use. On error
// the keys in use stay as they are.
func (kr *keyring) refresh(ctx context.Context) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	rs, err := kr.store.ListKeys(ctx)
	if err != nil {
		return err
	}
	kr.publish(rs)
	return nil
}

// lookup finds the key by secret. Secrets are compared by their SHA-256, so
// the lookup's time says nothing about how much of a secret was right.
func (kr *keyring) lookup(secret string) *keyState {
	return kr.set.Load().bySecret[sha256.Sum256([]byte(secret))]
}

// allowsOrigin reports whether some key may be used from origin.
func (kr *keyring) allowsOrigin(origin string) bool {
	set := kr.set.Load()
	return set.origins[origin] || set.origins["*"]
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
		detail := "send a key: Authorization: Bearer <key>"
		if r.URL.Query().Has("key") && need != RoleWrite {
			detail = "only ingest takes ?key= (for navigator.sendBeacon); " + detail
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
		return r, problemf(http.StatusUnauthorized, "missing_key", detail)
	}
	ks := s.keys.lookup(secret)
	if ks == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
		return r, problemf(http.StatusUnauthorized, "unknown_key", "the key is not known")
	}
	noteKey(r, ks.Name)
	s.traceKey(r, ks.Name)
	if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(r, origin) {
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

// sameOrigin reports whether origin is the host the request was sent to:
// a page that this sluice served (the console), not a cross-origin one,
// which browsers name in Origin with another host.
func sameOrigin(r *http.Request, origin string) bool {
	_, host, ok := strings.Cut(origin, "://")
	return ok && host == r.Host
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
	if !s.keys.allowsOrigin(origin) {
		writeProblem(w, problemf(http.StatusForbidden, "origin_not_allowed", "no key may be used from "+origin))
		return
	}
	h := w.Header()
	setCORS(h, origin)
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
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
