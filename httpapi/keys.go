package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// keyView is a key as /v1/keys shows it: never its secret or hash.
type keyView struct {
	// ID is the store's id; the configuration's keys have none.
	ID      string   `json:"id,omitempty"`
	Name    string   `json:"name"`
	Role    Role     `json:"role"`
	Origins []string `json:"origins"`
	Types   []string `json:"types"`
	Rate    float64  `json:"rate"`
	Burst   int      `json:"burst"`
	// Bootstrap: a key of the configuration, or one generated on the first
	// start; the API does not revoke or change it.
	Bootstrap bool `json:"bootstrap"`
	// Source is "config" or "store".
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// Secret is only in the answer that creates the key.
	Secret string `json:"secret,omitempty"`
}

func viewOf(r sluice.KeyRecord) keyView {
	return keyView{ID: r.ID, Name: r.Name, Role: Role(r.Role), Origins: nonNil(r.Origins), Types: nonNil(r.Types),
		Rate: r.Rate, Burst: r.Burst, Bootstrap: r.Bootstrap, Source: "store", CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// keyChange is the body of POST /v1/keys (every field) and of PATCH
// /v1/keys/{name} (origins, types, rate and burst; a field left out stays).
type keyChange struct {
	Name    *string   `json:"name"`
	Role    *Role     `json:"role"`
	Origins *[]string `json:"origins"`
	Types   *[]string `json:"types"`
	Rate    *float64  `json:"rate"`
	Burst   *int      `json:"burst"`
}

// listKeys is GET /v1/keys: the configuration's keys, then the store's,
// revoked ones included; never a secret.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	views := []keyView{}
	for _, ks := range s.keys.config {
		views = append(views, keyView{Name: ks.Name, Role: ks.Role, Origins: nonNil(ks.Origins), Types: nonNil(ks.Types),
			Rate: ks.Rate, Burst: ks.Burst, Bootstrap: true, Source: "config"})
	}
	rs, err := s.store.ListKeys(r.Context())
	if err != nil {
		writeProblem(w, s.storeProblem(err))
		return
	}
	for _, k := range rs {
		v := viewOf(k)
		v.Origins = nonNil(s.keys.originsOf(k))
		views = append(views, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": views})
}

// createKey is POST /v1/keys: 201 with the new key and its secret, shown
// this once.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	c, p := decodeKeyChange(w, r)
	if p == nil {
		p = c.checkCreate()
	}
	if p == nil && s.configKey(*c.Name) != nil {
		p = problemf(http.StatusConflict, "key_exists", "a configured key is named "+*c.Name)
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	secret := NewSecret(*c.Role)
	k := sluice.KeyRecord{ID: sluice.NewID(), Name: *c.Name, Role: string(*c.Role), Hash: sha256.Sum256([]byte(secret)), CreatedAt: time.Now().UTC()}
	c.apply(&k)
	if err := s.store.AddKeys(r.Context(), []sluice.KeyRecord{k}); err != nil {
		if errors.Is(err, sluice.ErrKeyExists) {
			err = problemf(http.StatusConflict, "key_exists", "a key named "+k.Name+" is in use")
		}
		writeProblem(w, s.storeProblem(err))
		return
	}
	s.keysChanged(r, "key.created", k)
	v := viewOf(k)
	v.Secret = secret
	w.Header().Set("Location", "/v1/keys/"+url.PathEscape(k.Name))
	writeJSON(w, http.StatusCreated, v)
}

// revokeKey is DELETE /v1/keys/{name}: 200 with the revoked key. The key
// is refused by every node within a second.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) {
	k, p := s.changeableKey(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	k.RevokedAt = time.Now().UTC()
	if err := s.store.RevokeKey(r.Context(), k.Name, k.RevokedAt); err != nil {
		writeProblem(w, s.keyProblem(err, k.Name))
		return
	}
	s.keysChanged(r, "key.revoked", k)
	writeJSON(w, http.StatusOK, viewOf(k))
}

// patchKey is PATCH /v1/keys/{name}: changes the key's origins, types,
// rate and burst (the fields the body has), 200 with the key.
func (s *Server) patchKey(w http.ResponseWriter, r *http.Request) {
	c, p := decodeKeyChange(w, r)
	if p == nil && (c.Name != nil || c.Role != nil) {
		p = problemf(http.StatusBadRequest, "invalid_body", "a key's name and role cannot change: create another key")
	}
	if p == nil {
		p = c.checkLimits()
	}
	var k sluice.KeyRecord
	if p == nil {
		k, p = s.changeableKey(r)
	}
	if p != nil {
		writeProblem(w, p)
		return
	}
	c.apply(&k)
	if err := s.store.UpdateKey(r.Context(), k); err != nil {
		writeProblem(w, s.keyProblem(err, k.Name))
		return
	}
	s.keysChanged(r, "key.changed", k)
	writeJSON(w, http.StatusOK, viewOf(k))
}

// changeableKey returns the store's key that the path names, or the
// answer: 404 when there is none, 409 for a bootstrap key.
func (s *Server) changeableKey(r *http.Request) (sluice.KeyRecord, *Problem) {
	name := r.PathValue("name")
	bootstrap := problemf(http.StatusConflict, "bootstrap_key", "key "+name+" is a bootstrap key (configured, or generated on the first start): change it in the configuration")
	if s.configKey(name) != nil {
		return sluice.KeyRecord{}, bootstrap
	}
	rs, err := s.store.ListKeys(r.Context())
	if err != nil {
		return sluice.KeyRecord{}, s.storeProblem(err)
	}
	i := slices.IndexFunc(rs, func(k sluice.KeyRecord) bool { return k.Name == name && k.RevokedAt.IsZero() })
	switch {
	case i < 0:
		return sluice.KeyRecord{}, s.keyProblem(sluice.ErrKeyNotFound, name)
	case rs[i].Bootstrap:
		return sluice.KeyRecord{}, bootstrap
	}
	return rs[i], nil
}

// configKey returns the configuration's key of that name, nil if none.
func (s *Server) configKey(name string) *keyState {
	i := slices.IndexFunc(s.keys.config, func(ks *keyState) bool { return ks.Name == name })
	if i < 0 {
		return nil
	}
	return s.keys.config[i]
}

func (s *Server) keyProblem(err error, name string) *Problem {
	if errors.Is(err, sluice.ErrKeyNotFound) {
		return problemf(http.StatusNotFound, "key_not_found", "no key in use is named "+name)
	}
	return s.storeProblem(err)
}

// keysChanged records the change in the $keys stream (without the secret
// or its hash) and makes this node use the store's keys at once; the
// others follow within keyRefresh. The change is made already: a failure
// here is logged, not answered (decision D73).
func (s *Server) keysChanged(r *http.Request, typ string, k sluice.KeyRecord) {
	// The change is made: the client going away must not keep it from
	// the audit trail.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	data, _ := json.Marshal(map[string]any{ // these values always encode
		"id": k.ID, "name": k.Name, "role": k.Role, "origins": nonNil(k.Origins), "types": nonNil(k.Types),
		"rate": k.Rate, "burst": k.Burst, "by": keyFrom(r).Name,
	})
	reqs := []sluice.AppendRequest{{Events: []sluice.Event{{Type: typ, Stream: sluice.KeysStream, Source: keyFrom(r).Name, Data: data}}}}
	err := sluice.Limits{System: true}.Prepare(reqs)
	if err == nil {
		_, err = s.writer.Append(ctx, reqs[0])
	}
	if err != nil {
		s.log.Error("keys: the audit event is not stored", "event", typ, "key", k.Name, "id", k.ID, "err", err)
	}
	if err := s.keys.refresh(ctx); err != nil {
		s.log.Warn("keys: refresh", "err", err)
	}
	s.log.Info("keys: "+typ, "key", k.Name, "id", k.ID, "by", keyFrom(r).Name)
}

// RefreshKeys reads the store's keys every keyRefresh until ctx is done,
// so that keys created, changed or revoked on other nodes hold here within
// a second. While the store cannot be read, the keys stay as they were.
func (s *Server) RefreshKeys(ctx context.Context) {
	t := time.NewTicker(keyRefresh)
	defer t.Stop()
	var failing bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.keys.refresh(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			s.log.Warn("keys: cannot read the store's keys; the last ones read stay in use", "err", err)
		case err == nil && failing:
			s.log.Info("keys: the store's keys are read again")
		}
		failing = err != nil
	}
}

// NewSecret returns a new secret for a key of role: sk_<role>_ and 256
// random bits in base32 (52 characters).
func NewSecret(role Role) string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails; see crypto/rand.Read
	return "sk_" + string(role) + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func decodeKeyChange(w http.ResponseWriter, r *http.Request) (keyChange, *Problem) {
	var c keyChange
	body, p := readSmallBody(w, r, 64<<10)
	if p != nil {
		return c, p
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, problemf(http.StatusBadRequest, "invalid_body", `the body must be {"name": "...", "role": "write" | "read" | "admin", "origins": [...], "types": [...], "rate": n, "burst": n}: `+err.Error())
	}
	return c, nil
}

// checkCreate checks a new key: a name, a role, and its limits.
func (c keyChange) checkCreate() *Problem {
	var errs []string
	if c.Name == nil {
		errs = append(errs, "name: required")
	} else if err := sluice.CheckSubscriptionName(*c.Name); err != nil { // the same rule: 1–128 of A-Z a-z 0-9 . _ : -
		errs = append(errs, "name: must be 1–128 of A-Z a-z 0-9 . _ : -")
	}
	if c.Role == nil {
		errs = append(errs, "role: required")
	} else if !c.Role.valid() {
		errs = append(errs, fmt.Sprintf("role: %q is not write, read or admin", *c.Role))
	}
	if p := c.checkLimits(); p != nil {
		errs = append(errs, p.Detail)
	}
	if len(errs) > 0 {
		return problemf(http.StatusBadRequest, "invalid_key", strings.Join(errs, "; "))
	}
	return nil
}

// checkLimits checks the origins, types, rate and burst given.
func (c keyChange) checkLimits() *Problem {
	var errs []string
	if c.Origins != nil {
		for _, o := range *c.Origins {
			if err := checkOrigin(o); err != nil {
				errs = append(errs, "origins: "+err.Error())
			}
		}
	}
	if c.Types != nil {
		for _, t := range *c.Types {
			if err := sluice.CheckType(t); err != nil {
				errs = append(errs, "types: "+err.Error())
			}
		}
	}
	if (c.Rate != nil && *c.Rate < 0) || (c.Burst != nil && *c.Burst < 0) {
		errs = append(errs, "rate and burst must not be negative")
	}
	if len(errs) > 0 {
		return problemf(http.StatusBadRequest, "invalid_key", strings.Join(errs, "; "))
	}
	return nil
}

// apply sets the limits that c has on k.
func (c keyChange) apply(k *sluice.KeyRecord) {
	if c.Origins != nil {
		k.Origins = *c.Origins
	}
	if c.Types != nil {
		k.Types = *c.Types
	}
	if c.Rate != nil {
		k.Rate = *c.Rate
	}
	if c.Burst != nil {
		k.Burst = *c.Burst
	}
}

// checkOrigin returns an error unless o is "*" or an origin as browsers
// send it: scheme://host[:port] in lower case, without a path.
func checkOrigin(o string) error {
	if o == "*" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || o != strings.ToLower(u.Scheme+"://"+u.Host) {
		return fmt.Errorf("%q is not * or an origin such as https://shop.example or http://localhost:3000", o)
	}
	return nil
}
