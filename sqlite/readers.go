package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// readers is the reading pool with its statements prepared once: a query
// given as text is prepared at its first use and kept, so that reads that
// come often (a subscriber's poll, a live tail's page) do not parse their
// SQL every time. It is a queryer.
type readers struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// stmt returns query prepared on the pool.
func (r *readers) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.stmts[query]; ok {
		return st, nil
	}
	st, err := r.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if r.stmts == nil {
		r.stmts = map[string]*sql.Stmt{}
	}
	r.stmts[query] = st
	return st, nil
}

// QueryContext runs query with the prepared statement.
func (r *readers) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query with the prepared statement.
func (r *readers) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := r.stmt(ctx, query)
	if err != nil {
		// Unprepared: *sql.Row carries no error of ours, and the query
		// reports its own on Scan.
		return r.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// close closes the prepared statements.
func (r *readers) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first error
	for _, st := range r.stmts {
		if err := st.Close(); err != nil && first == nil {
			first = err
		}
	}
	r.stmts = nil
	return first
}
