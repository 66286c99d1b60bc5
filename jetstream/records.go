package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluicehq/sluice"
)

// PutSchema stores doc as the type's next version unless it is the latest
// already. Each version is a key of its own (<type>.<version>), created
// only if absent: that is the compare-and-set between writers.
func (s *Store) PutSchema(ctx context.Context, typ string, doc []byte) (sluice.SchemaVersion, bool, error) {
	op := fmt.Sprintf("put schema %q", typ)
	if err := s.checkOpen(op); err != nil {
		return sluice.SchemaVersion{}, false, err
	}
	for {
		latest, err := s.latestSchema(ctx, typ)
		if err != nil && !errors.Is(err, sluice.ErrSchemaNotFound) {
			return sluice.SchemaVersion{}, false, s.fail(op, err)
		}
		if err == nil && bytes.Equal(latest.Schema, doc) {
			return latest, false, nil
		}
		v := sluice.SchemaVersion{Type: typ, Version: latest.Version + 1, Schema: doc, CreatedAt: time.Now().UTC()}
		value := append([]byte(v.CreatedAt.Format(time.RFC3339Nano)+"\n"), doc...)
		_, err = s.kv.schemas.Create(ctx, schemaKey(typ, v.Version), value)
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // another writer took this version
		}
		if err != nil {
			return sluice.SchemaVersion{}, false, s.fail(op, err)
		}
		return v, true, nil
	}
}

func schemaKey(typ string, version int) string {
	return encodeToken(typ) + "." + strconv.Itoa(version)
}

// Schema returns one version of the type's schema, the latest for 0.
func (s *Store) Schema(ctx context.Context, typ string, version int) (sluice.SchemaVersion, error) {
	op := fmt.Sprintf("schema %q version %d", typ, version)
	if err := s.checkOpen(op); err != nil {
		return sluice.SchemaVersion{}, err
	}
	var v sluice.SchemaVersion
	var err error
	if version == 0 {
		v, err = s.latestSchema(ctx, typ)
	} else {
		v, err = s.schema(ctx, typ, version)
	}
	if errors.Is(err, sluice.ErrSchemaNotFound) {
		return v, fmt.Errorf("%s: %w", op, err)
	}
	if err != nil {
		return v, s.fail(op, err)
	}
	return v, nil
}

func (s *Store) schema(ctx context.Context, typ string, version int) (sluice.SchemaVersion, error) {
	e, err := s.kv.schemas.Get(ctx, schemaKey(typ, version))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return sluice.SchemaVersion{}, sluice.ErrSchemaNotFound
	}
	if err != nil {
		return sluice.SchemaVersion{}, err
	}
	at, doc, _ := bytes.Cut(e.Value(), []byte("\n"))
	created, err := time.Parse(time.RFC3339Nano, string(at))
	if err != nil {
		return sluice.SchemaVersion{}, fmt.Errorf("schema %q version %d: %w", typ, version, err)
	}
	return sluice.SchemaVersion{Type: typ, Version: version, Schema: doc, CreatedAt: created.UTC()}, nil
}

// latestSchema finds the type's highest version among the bucket's keys.
func (s *Store) latestSchema(ctx context.Context, typ string) (sluice.SchemaVersion, error) {
	versions, err := s.schemaVersions(ctx, encodeToken(typ)+".*")
	if err != nil {
		return sluice.SchemaVersion{}, err
	}
	if versions[typ] == 0 {
		return sluice.SchemaVersion{}, sluice.ErrSchemaNotFound
	}
	return s.schema(ctx, typ, versions[typ])
}

// schemaVersions is each type's highest version among the keys that
// filter matches.
func (s *Store) schemaVersions(ctx context.Context, filter string) (map[string]int, error) {
	keys, err := listKeys(ctx, s.kv.schemas, filter)
	if err != nil {
		return nil, err
	}
	latest := map[string]int{}
	for _, key := range keys {
		t, v, _ := strings.Cut(key, ".")
		typ, err1 := decodeToken(t)
		version, err2 := strconv.Atoi(v)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("schemas bucket key %q", key)
		}
		latest[typ] = max(latest[typ], version)
	}
	return latest, ctx.Err()
}

// LatestSchemas returns the latest version of every type, in type order.
func (s *Store) LatestSchemas(ctx context.Context) ([]sluice.SchemaVersion, error) {
	if err := s.checkOpen("latest schemas"); err != nil {
		return nil, err
	}
	versions, err := s.schemaVersions(ctx, ">")
	if err != nil {
		return nil, s.fail("latest schemas", err)
	}
	out := make([]sluice.SchemaVersion, 0, len(versions))
	for typ, version := range versions {
		v, err := s.schema(ctx, typ, version)
		if err != nil {
			return nil, s.fail("latest schemas", err)
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b sluice.SchemaVersion) int { return strings.Compare(a.Type, b.Type) })
	return out, nil
}

// storedControl is a sink's control entry: the control and its revision
// (1, 2, 3 … per sink; the entry's KV revision is the compare-and-set).
type storedControl struct {
	Revision int64              `json:"revision"`
	Control  sluice.SinkControl `json:"control"`
}

// sinkControl reads the sink's control and the entry's KV revision (0:
// none).
func (s *Store) sinkControl(ctx context.Context, name string) (storedControl, uint64, error) {
	var c storedControl
	e, err := s.kv.sinks.Get(ctx, "control."+encodeToken(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return c, 0, nil
	}
	if err != nil {
		return c, 0, err
	}
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return c, 0, fmt.Errorf("control of sink %q: %w", name, err)
	}
	return c, e.Revision(), nil
}

// SinkState returns the sink's control and status.
func (s *Store) SinkState(ctx context.Context, name string) (sluice.SinkState, error) {
	op := fmt.Sprintf("sink state %q", name)
	if err := s.checkOpen(op); err != nil {
		return sluice.SinkState{}, err
	}
	c, _, err := s.sinkControl(ctx, name)
	if err != nil {
		return sluice.SinkState{}, s.fail(op, err)
	}
	st := sluice.SinkState{Name: name, Control: c.Control, Revision: c.Revision}
	e, err := s.kv.sinks.Get(ctx, "status."+encodeToken(name))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
	case err != nil:
		return st, s.fail(op, err)
	default:
		st.Status, st.StatusAt = e.Value(), e.Created().UTC()
	}
	return st, nil
}

// SetSinkControl replaces the control if it is still at rev (0: none),
// and returns the new revision.
func (s *Store) SetSinkControl(ctx context.Context, name string, rev int64, c sluice.SinkControl) (int64, error) {
	op := fmt.Sprintf("set sink control %q", name)
	if err := s.checkOpen(op); err != nil {
		return 0, err
	}
	cur, kvRev, err := s.sinkControl(ctx, name)
	if err != nil {
		return 0, s.fail(op, err)
	}
	conflict := fmt.Errorf("%s at revision %d: %w", op, rev, sluice.ErrRevisionConflict)
	if cur.Revision != rev {
		return 0, conflict
	}
	v, err := json.Marshal(storedControl{Revision: rev + 1, Control: c})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	key := "control." + encodeToken(name)
	if kvRev == 0 {
		_, err = s.kv.sinks.Create(ctx, key, v)
	} else {
		_, err = s.kv.sinks.Update(ctx, key, v, kvRev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
		return 0, conflict
	}
	if err != nil {
		return 0, s.fail(op, err)
	}
	return rev + 1, nil
}

// SetSinkStatus replaces the sink's status; its time is the entry's.
func (s *Store) SetSinkStatus(ctx context.Context, name string, status json.RawMessage) error {
	op := fmt.Sprintf("set sink status %q", name)
	if err := s.checkOpen(op); err != nil {
		return err
	}
	if _, err := s.kv.sinks.Put(ctx, "status."+encodeToken(name), status); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// keysKey holds every key record in one entry: there are few keys, and
// one entry makes AddKeys atomic and its uniqueness checks exact.
const keysKey = "all"

// keyRecords reads every key record and the entry's revision (0: none).
func (s *Store) keyRecords(ctx context.Context) ([]sluice.KeyRecord, uint64, error) {
	e, err := s.kv.keys.Get(ctx, keysKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var ks []sluice.KeyRecord
	if err := json.Unmarshal(e.Value(), &ks); err != nil {
		return nil, 0, fmt.Errorf("keys: %w", err)
	}
	return ks, e.Revision(), nil
}

// changeKeys applies change to the key records and stores them, again
// from the start when another writer came first.
func (s *Store) changeKeys(ctx context.Context, op string, change func([]sluice.KeyRecord) ([]sluice.KeyRecord, error)) error {
	if err := s.checkOpen(op); err != nil {
		return err
	}
	for {
		ks, rev, err := s.keyRecords(ctx)
		if err != nil {
			return s.fail(op, err)
		}
		if ks, err = change(ks); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		slices.SortStableFunc(ks, func(a, b sluice.KeyRecord) int {
			if c := strings.Compare(a.Name, b.Name); c != 0 {
				return c
			}
			return a.CreatedAt.Compare(b.CreatedAt)
		})
		v, err := json.Marshal(ks)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if rev == 0 {
			_, err = s.kv.keys.Create(ctx, keysKey, v)
		} else {
			_, err = s.kv.keys.Update(ctx, keysKey, v, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
			continue
		}
		if err != nil {
			return s.fail(op, err)
		}
		return nil
	}
}

// AddKeys stores the keys, all or none: a name held by an unrevoked key,
// or a hash held by any key, is sluice.ErrKeyExists.
func (s *Store) AddKeys(ctx context.Context, add []sluice.KeyRecord) error {
	return s.changeKeys(ctx, "add keys", func(ks []sluice.KeyRecord) ([]sluice.KeyRecord, error) {
		for _, k := range add {
			for _, o := range ks {
				if o.Hash == k.Hash || o.Name == k.Name && o.RevokedAt.IsZero() {
					return nil, fmt.Errorf("key %q: %w", k.Name, sluice.ErrKeyExists)
				}
			}
			ks = append(ks, k)
		}
		return ks, nil
	})
}

// ListKeys returns every key, revoked ones too, by name and creation.
func (s *Store) ListKeys(ctx context.Context) ([]sluice.KeyRecord, error) {
	if err := s.checkOpen("list keys"); err != nil {
		return nil, err
	}
	ks, _, err := s.keyRecords(ctx)
	if err != nil {
		return nil, s.fail("list keys", err)
	}
	return ks, nil
}

// UpdateKey changes the origins, types and rate of the unrevoked key named
// k.Name.
func (s *Store) UpdateKey(ctx context.Context, k sluice.KeyRecord) error {
	return s.changeKey(ctx, "update key "+k.Name, k.Name, func(o *sluice.KeyRecord) {
		o.Origins, o.Types, o.Rate, o.Burst = k.Origins, k.Types, k.Rate, k.Burst
	})
}

// RevokeKey revokes the unrevoked key named name at at.
func (s *Store) RevokeKey(ctx context.Context, name string, at time.Time) error {
	return s.changeKey(ctx, "revoke key "+name, name, func(o *sluice.KeyRecord) { o.RevokedAt = at })
}

func (s *Store) changeKey(ctx context.Context, op, name string, change func(*sluice.KeyRecord)) error {
	return s.changeKeys(ctx, op, func(ks []sluice.KeyRecord) ([]sluice.KeyRecord, error) {
		for i := range ks {
			if ks[i].Name == name && ks[i].RevokedAt.IsZero() {
				change(&ks[i])
				return ks, nil
			}
		}
		return nil, sluice.ErrKeyNotFound
	})
}
