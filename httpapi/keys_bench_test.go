package httpapi

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
)

// BenchmarkKeyLookup measures finding a request's key among 4 configured
// and 100 stored keys: Cached is the keyring's lookup (what every request
// does), Map the bare map lookup that the keyring did before keys were in
// the store (the baseline), StoreQuery what reading the store's keys for
// each request would cost instead (embedded store). Run:
//
//	go test -run '^$' -bench KeyLookup -count 3 ./httpapi/
func BenchmarkKeyLookup(b *testing.B) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	var rs []sluice.KeyRecord
	for i := range 100 {
		rs = append(rs, sluice.KeyRecord{ID: fmt.Sprint(i), Name: fmt.Sprint("k", i), Role: "write", Hash: sha256.Sum256([]byte(fmt.Sprint("secret-", i)))})
	}
	if err := store.AddKeys(ctx, rs); err != nil {
		b.Fatal(err)
	}
	var cfg Config
	for i := range 4 {
		cfg.Keys = append(cfg.Keys, Key{Name: fmt.Sprint("c", i), Secret: fmt.Sprint("sk_configured_key_", i), Role: RoleWrite})
	}
	kr := newKeyring(cfg.WithDefaults(), store)
	if err := kr.refresh(ctx); err != nil {
		b.Fatal(err)
	}
	const secret = "secret-57"
	b.Run("Cached", func(b *testing.B) {
		for b.Loop() {
			if kr.lookup(secret) == nil {
				b.Fatal("not found")
			}
		}
	})
	b.Run("Map", func(b *testing.B) {
		m := kr.set.Load().bySecret
		for b.Loop() {
			if m[sha256.Sum256([]byte(secret))] == nil {
				b.Fatal("not found")
			}
		}
	})
	b.Run("StoreQuery", func(b *testing.B) {
		want := sha256.Sum256([]byte(secret))
		for b.Loop() {
			rs, err := store.ListKeys(ctx)
			if err != nil {
				b.Fatal(err)
			}
			found := false
			for _, r := range rs {
				found = found || r.Hash == want
			}
			if !found {
				b.Fatal("not found")
			}
		}
	})
}
