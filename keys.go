package sluice

import (
	"context"
	"time"
)

// KeysStream is the system stream that records every change of the keys
// kept in the store (created, revoked, changed), for an audit trail.
const KeysStream = "$keys"

// SystemStreamPrefix starts the names of the streams that sluice itself
// writes; clients may read them but not append to them.
const SystemStreamPrefix = "$"

// KeyRecord is an API key kept in the store. The store never sees the
// secret, only its SHA-256.
type KeyRecord struct {
	// ID identifies the key for good; a name may be used again once its
	// key is revoked.
	ID string
	// Name is unique among the keys not revoked.
	Name string
	// Role is write, read or admin.
	Role string
	// Hash is the SHA-256 of the secret.
	Hash [32]byte
	// Origins are the browser origins allowed to use the key ("*": any).
	Origins []string
	// Types are the event types the key may send; empty: any.
	Types []string
	// Rate is the requests per second the key may send; 0: the default.
	Rate float64
	// Burst is the rate limiter's bucket size; 0: the default.
	Burst int
	// Bootstrap marks the keys that sluice generated on its first start:
	// used while no key is configured, never revoked or changed through
	// the API.
	Bootstrap bool
	// CreatedAt is when the key was stored.
	CreatedAt time.Time
	// RevokedAt is when the key was revoked; zero while it is in use.
	RevokedAt time.Time
}

// Keys keeps the API keys managed through the API, shared by every
// process that shares the store.
type Keys interface {
	// AddKeys stores the keys in one transaction, all or none. A name that
	// a key not revoked has, or a hash already stored, fails the call with
	// an error wrapping ErrKeyExists.
	AddKeys(ctx context.Context, ks []KeyRecord) error
	// ListKeys returns every key, revoked ones too, ordered by name and
	// creation.
	ListKeys(ctx context.Context) ([]KeyRecord, error)
	// UpdateKey replaces the Origins, Types, Rate and Burst of the key not
	// revoked named k.Name; ErrKeyNotFound when there is none.
	UpdateKey(ctx context.Context, k KeyRecord) error
	// RevokeKey marks the key not revoked named name as revoked at at;
	// ErrKeyNotFound when there is none.
	RevokeKey(ctx context.Context, name string, at time.Time) error
}
