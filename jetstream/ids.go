package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice"
)

// indexedKey holds the position through which the id index is complete.
// No id encodes to it ("=" is always followed by two hex digits).
const indexedKey = "=indexed"

// fanOutLimit bounds the requests of one fanOut in flight at once.
const fanOutLimit = 64

// fanOut calls fn for 0..n-1 concurrently, at most fanOutLimit at a time,
// and returns the first error.
func fanOut(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(fanOutLimit)
	for i := range n {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

// lookupIDs adds to stored the events of the log under ids, from the id
// index, once this process's indexer has written what it holds and the
// index has caught up with head.
func (s *Store) lookupIDs(ctx context.Context, head sluice.Position, ids []string, stored map[string]sluice.Appended) error {
	if err := s.indexer.flush(ctx); err != nil {
		return err
	}
	if err := s.catchUpIndex(ctx, head); err != nil {
		return err
	}
	found := make([]*sluice.Appended, len(ids))
	err := fanOut(ctx, len(ids), func(ctx context.Context, i int) error {
		e, err := s.kv.ids.Get(ctx, encodeToken(ids[i]))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		a, err := parseIndexed(ids[i], e.Value())
		found[i] = &a
		return err
	})
	for _, a := range found {
		if a != nil {
			stored[a.ID] = *a
		}
	}
	return err
}

func parseIndexed(id string, v []byte) (sluice.Appended, error) {
	p, ver, ok := strings.Cut(string(v), " ")
	pos, err1 := strconv.ParseUint(p, 10, 64)
	version, err2 := strconv.ParseUint(ver, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return sluice.Appended{}, fmt.Errorf("id index entry of %q is %q", id, v)
	}
	return sluice.Appended{ID: id, Position: sluice.Position(pos), Version: version}, nil
}

// putIDs writes the index entries, without waiting for each answer.
func (s *Store) putIDs(ctx context.Context, entries []idEntry) error {
	subjects, values := make([]string, len(entries)), make([][]byte, len(entries))
	for i := range entries {
		e := &entries[i]
		subjects[i] = "$KV." + s.name + "_ids." + encodeToken(e.id)
		values[i] = []byte(strconv.FormatUint(uint64(e.position), 10) + " " + strconv.FormatUint(e.version, 10))
	}
	return s.publishAll(ctx, subjects, values)
}

// getUint reads a number from a KV entry, and the entry's revision (0, 0
// when there is none).
func getUint(ctx context.Context, kv jetstream.KeyValue, key string) (uint64, uint64, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	n, err := strconv.ParseUint(string(e.Value()), 10, 64)
	return n, e.Revision(), err
}

// indexed is the index's watermark and its revision (0: never written).
func (s *Store) indexed(ctx context.Context) (sluice.Position, uint64, error) {
	p, rev, err := getUint(ctx, s.kv.ids, indexedKey)
	return sluice.Position(p), rev, err
}

// moveIndexed sets the watermark to p if it is still at revision rev;
// losing that race is fine: whoever won moved it as far.
func (s *Store) moveIndexed(ctx context.Context, rev uint64, p sluice.Position) error {
	v := []byte(strconv.FormatUint(uint64(p), 10))
	var err error
	if rev == 0 {
		_, err = s.kv.ids.Create(ctx, indexedKey, v)
	} else {
		_, err = s.kv.ids.Update(ctx, indexedKey, v, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongLastSequence(err) {
		return nil
	}
	return err
}

// catchUpIndex makes the id index complete through head: it indexes the
// events after the watermark that their own commit did not (a process
// stopped between its commit and its index writes, or finished them after
// a later commit had).
func (s *Store) catchUpIndex(ctx context.Context, head sluice.Position) error {
	wm, rev, err := s.indexed(ctx)
	if err != nil || wm >= head {
		return err
	}
	var batch []idEntry
	err = s.scan(ctx, wm, "", func(m jetstream.Msg) (bool, error) {
		e, err := msgEvent(m)
		if err != nil {
			return false, err
		}
		batch = append(batch, idEntry{id: e.ID, position: e.Position, version: e.Version})
		if len(batch) == fetchSize || e.Position >= head {
			if err := s.putIDs(ctx, batch); err != nil {
				return false, err
			}
			batch = batch[:0]
		}
		return e.Position < head, nil
	})
	if err == nil && len(batch) > 0 {
		err = s.putIDs(ctx, batch)
	}
	if err != nil {
		return fmt.Errorf("catch up the id index: %w", err)
	}
	return s.moveIndexed(ctx, rev, head)
}

// isWrongLastSequence reports whether err is a KV compare-and-set that
// found another revision.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
