package storetest

import (
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// keyRecord is a key named name whose secret is "secret-" + name.
func keyRecord(id, name string) sluice.KeyRecord {
	return sluice.KeyRecord{
		ID: id, Name: name, Role: "write", Hash: sha256.Sum256([]byte("secret-" + name)),
		Origins: []string{"https://a.example"}, Types: []string{"page_viewed"}, Rate: 5, Burst: 10,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond), // PostgreSQL keeps microseconds
	}
}

// listKeys returns the store's keys.
func listKeys(tb testing.TB, s sluice.Keys) []sluice.KeyRecord {
	tb.Helper()
	ks, err := s.ListKeys(ctxFor(tb))
	if err != nil {
		tb.Fatalf("list keys: %v", err)
	}
	return ks
}

// sameKeys fails the test unless got is want, in order. Empty and nil
// lists are the same.
func sameKeys(tb testing.TB, got, want []sluice.KeyRecord) {
	tb.Helper()
	norm := func(ks []sluice.KeyRecord) []sluice.KeyRecord {
		out := make([]sluice.KeyRecord, len(ks))
		for i, k := range ks {
			k.Origins, k.Types = append([]string{}, k.Origins...), append([]string{}, k.Types...)
			out[i] = k
		}
		return out
	}
	if !reflect.DeepEqual(norm(got), norm(want)) {
		tb.Fatalf("keys\n%+v\nwant\n%+v", got, want)
	}
}

func testKeys(t *testing.T, open Opener, _ Features) {
	s := open(t)
	ctx := ctxFor(t)
	if ks := listKeys(t, s); len(ks) != 0 {
		t.Fatalf("a new store has keys: %+v", ks)
	}
	a, b := keyRecord("id-a", "a"), keyRecord("id-b", "b")
	b.Origins, b.Types, b.Rate, b.Burst, b.Bootstrap = nil, nil, 0, 0, true
	if err := s.AddKeys(ctx, []sluice.KeyRecord{b, a}); err != nil {
		t.Fatalf("add keys: %v", err)
	}
	sameKeys(t, listKeys(t, s), []sluice.KeyRecord{a, b})

	t.Run("NameOrHashTaken", func(t *testing.T) {
		taken := keyRecord("id-c", "a")
		taken.Hash = sha256.Sum256([]byte("another secret"))
		sameHash := keyRecord("id-d", "d")
		sameHash.Hash = a.Hash
		for _, k := range []sluice.KeyRecord{taken, sameHash} {
			// The first key of the call is new: all or none is stored.
			err := s.AddKeys(ctx, []sluice.KeyRecord{keyRecord("id-new", "new"), k})
			if !errors.Is(err, sluice.ErrKeyExists) {
				t.Fatalf("add key %s (id %s): %v, want ErrKeyExists", k.Name, k.ID, err)
			}
		}
		sameKeys(t, listKeys(t, s), []sluice.KeyRecord{a, b})
	})

	t.Run("Update", func(t *testing.T) {
		u := a
		u.Origins, u.Types, u.Rate, u.Burst = []string{"*"}, nil, 0.5, 1
		u.Role, u.Bootstrap = "admin", true // not changed by UpdateKey
		if err := s.UpdateKey(ctx, u); err != nil {
			t.Fatalf("update key: %v", err)
		}
		a.Origins, a.Types, a.Rate, a.Burst = u.Origins, nil, u.Rate, u.Burst
		sameKeys(t, listKeys(t, s), []sluice.KeyRecord{a, b})
		if err := s.UpdateKey(ctx, keyRecord("id-x", "nobody")); !errors.Is(err, sluice.ErrKeyNotFound) {
			t.Fatalf("update an unknown key: %v, want ErrKeyNotFound", err)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		at := time.Now().UTC().Truncate(time.Microsecond)
		if err := s.RevokeKey(ctx, "a", at); err != nil {
			t.Fatalf("revoke key: %v", err)
		}
		a.RevokedAt = at
		sameKeys(t, listKeys(t, s), []sluice.KeyRecord{a, b})
		if err := s.RevokeKey(ctx, "a", at); !errors.Is(err, sluice.ErrKeyNotFound) {
			t.Fatalf("revoke a revoked key: %v, want ErrKeyNotFound", err)
		}
		if err := s.UpdateKey(ctx, a); !errors.Is(err, sluice.ErrKeyNotFound) {
			t.Fatalf("update a revoked key: %v, want ErrKeyNotFound", err)
		}
		// The name is free again; the revoked key stays listed.
		again := keyRecord("id-a2", "a")
		again.Hash = sha256.Sum256([]byte("a new secret"))
		if err := s.AddKeys(ctx, []sluice.KeyRecord{again}); err != nil {
			t.Fatalf("add a key under a revoked key's name: %v", err)
		}
		sameKeys(t, listKeys(t, s), []sluice.KeyRecord{a, again, b})
	})
}
