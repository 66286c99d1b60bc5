package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// checkpointCache holds the consumers' checkpoints. Only this process has
// the log open, so the positions in memory are the truth: SetCheckpoint
// moves them in memory, and the moves are written to the database in the
// next commit of the log (fsync'd with it), or, when no commit comes, by
// idleFlush a second later. An acknowledgement never waits for a commit in
// flight; a crash of the machine loses at most the moves since the last
// write, and their consumers receive those events again, which
// at-least-once delivery allows.
type checkpointCache struct {
	mu    sync.Mutex
	pos   map[string]sluice.Position // loaded or moved
	dirty map[string]sluice.Position // moved since the last write
	gen   uint64                     // counts removals, so a slow load cannot cache a removed row
	idle  *time.Timer                // runs idleFlush; armed while dirty is not empty
}

// idleFlushDelay is how long a moved checkpoint waits for a commit of the
// log before idleFlush writes it.
const idleFlushDelay = time.Second

// Checkpoint returns the consumer's position, 0 if it has none.
func (s *Store) Checkpoint(ctx context.Context, name string) (sluice.Position, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	c := &s.ckpts
	c.mu.Lock()
	p, ok := c.pos[name]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	var n int64
	err := s.reads.QueryRowContext(ctx, "SELECT position FROM checkpoints WHERE name = ?", name).Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read checkpoint %q: %w", name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if q, ok := c.pos[name]; ok {
		return q, nil // moved meanwhile
	}
	if c.gen == gen {
		c.pos[name] = sluice.Position(n)
	}
	return sluice.Position(n), nil
}

// SetCheckpoint moves the consumer's position from old to new
// (compare-and-set), in memory: see checkpointCache.
func (s *Store) SetCheckpoint(ctx context.Context, name string, old, new sluice.Position) error {
	cur, err := s.Checkpoint(ctx, name) // loads it
	if err != nil {
		return err
	}
	c := &s.ckpts
	c.mu.Lock()
	if p, ok := c.pos[name]; ok {
		cur = p
	}
	if cur != old {
		c.mu.Unlock()
		return fmt.Errorf("set checkpoint %q from %d: %w", name, old, sluice.ErrCheckpointConflict)
	}
	c.pos[name], c.dirty[name] = new, new
	if c.idle == nil {
		c.idle = time.AfterFunc(idleFlushDelay, s.idleFlush)
	}
	c.mu.Unlock()
	s.checkpoints.NotifyMoved(name, new)
	return nil
}

// takeDirty returns the moves not yet written and forgets them; callers
// hold s.mu and write them, or give them back with putBack.
func (s *Store) takeDirty() map[string]sluice.Position {
	c := &s.ckpts
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.dirty) == 0 {
		return nil
	}
	d := c.dirty
	c.dirty = map[string]sluice.Position{}
	if c.idle != nil {
		c.idle.Stop()
		c.idle = nil
	}
	return d
}

// putBack returns moves whose write failed, unless newer ones came.
func (s *Store) putBack(d map[string]sluice.Position) {
	c := &s.ckpts
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, p := range d {
		if _, ok := c.dirty[name]; !ok && c.pos[name] == p {
			c.dirty[name] = p
		}
	}
	if len(c.dirty) > 0 && c.idle == nil {
		c.idle = time.AfterFunc(idleFlushDelay, s.idleFlush)
	}
}

// writeCheckpoints writes moves in the transaction tx.
func writeCheckpoints(ctx context.Context, tx *sql.Conn, d map[string]sluice.Position) error {
	for name, p := range d {
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO checkpoints (name, position) VALUES (?, ?)", name, int64(p)); err != nil {
			return fmt.Errorf("write checkpoint %q: %w", name, err)
		}
	}
	return nil
}

// idleFlush writes the moves that no commit of the log has written.
func (s *Store) idleFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return
	}
	_ = s.flushCheckpoints(context.Background()) // kept for the next try
}

// flushCheckpoints writes the moves not yet written in a transaction of
// their own. Callers hold s.mu.
func (s *Store) flushCheckpoints(ctx context.Context) error {
	d := s.takeDirty()
	if d == nil {
		return nil
	}
	err := s.inTx(ctx, func(tx *sql.Conn) error { return writeCheckpoints(ctx, tx, d) })
	if err != nil {
		s.putBack(d)
	}
	return err
}

// setCached records a checkpoint that a transaction of s.mu's holder has
// just written (at created) or removed (gone): the cache follows the rows.
func (s *Store) setCached(name string, p sluice.Position, gone bool) {
	c := &s.ckpts
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.dirty, name)
	if gone {
		delete(c.pos, name)
		c.gen++
		return
	}
	c.pos[name] = p
}

// WaitCheckpoint blocks until the consumer's checkpoint is no longer at, and
// returns it. It is woken by this Store's writes (no other process can have
// the log open) and by Close.
func (s *Store) WaitCheckpoint(ctx context.Context, name string, at sluice.Position) (sluice.Position, error) {
	p, err := sluice.WaitChange(ctx, &s.checkpoints, name, at, func(ctx context.Context) (sluice.Position, error) {
		return s.Checkpoint(ctx, name)
	})
	if err != nil {
		if err := s.checkOpen(); err != nil {
			return p, err // closed before the read or under it
		}
		return p, fmt.Errorf("wait checkpoint %q: %w", name, err)
	}
	return p, nil
}

// AcquireLease takes or renews the lease for holder; see sluice.Leases.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (sluice.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.Lease{}, sluice.ErrClosed
	}
	now := time.Now()
	expires := now.Add(ttl)
	var got string
	var until int64
	err := s.wc.QueryRowContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ?
		RETURNING holder, expires_at`, name, holder, expires.UnixNano(), now.UnixNano()).Scan(&got, &until)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.wc.QueryRowContext(ctx, "SELECT holder, expires_at FROM leases WHERE name = ?", name).Scan(&got, &until)
		if err != nil {
			return sluice.Lease{}, fmt.Errorf("acquire lease %q: %w", name, err)
		}
		return sluice.Lease{}, &sluice.LeaseHeldError{Name: name, Holder: got, Expires: time.Unix(0, until).UTC()}
	}
	if err != nil {
		return sluice.Lease{}, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return sluice.Lease{Name: name, Holder: holder, Expires: time.Unix(0, until).UTC()}, nil
}

// ReleaseLease gives the lease up if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return sluice.ErrClosed
	}
	if _, err := s.wc.ExecContext(ctx, "DELETE FROM leases WHERE name = ? AND holder = ?", name, holder); err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}
