// Package migrate reads the numbered SQL migrations that each store backend
// embeds (migrations/001_init.sql, 002_….sql) and decides whether a binary
// may run on a schema that a newer binary migrated. Each backend applies the
// migrations in its own dialect and records the applied versions in its own
// schema_migrations table, with what each one declares of the binaries
// before it (its compatibility marker, see Load).
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
	// BreaksBefore is the oldest migration a binary must know to run on a
	// schema that has this one applied: 0 for an additive migration (the
	// binaries before it run on it as on the schema they know), else
	// between 2 and Version.
	BreaksBefore int
}

// Load returns the migrations in dir of fsys, ordered by version. File names
// must be NNN_name.sql with distinct numbers, and the first line of every
// file its compatibility marker: "-- sluice: additive", or
// "-- sluice: breaks-before N" for a migration that a binary which does
// not know migration N cannot run on.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.sql", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		breaks, err := ParseMarker(v, string(b))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b), BreaksBefore: breaks})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// markerPrefix starts the first line of every migration file.
const markerPrefix = "-- sluice:"

// ParseMarker reads the compatibility marker on the first line of the SQL
// of migration version and returns its BreaksBefore (0: additive).
func ParseMarker(version int, sql string) (int, error) {
	line, _, _ := strings.Cut(sql, "\n")
	line = strings.TrimSuffix(line, "\r")
	rest, ok := strings.CutPrefix(line, markerPrefix)
	if !ok {
		return 0, fmt.Errorf(`the first line must be "-- sluice: additive" or "-- sluice: breaks-before N" (N: the oldest migration a binary must know to run on a schema with this one), not %q`, line)
	}
	switch f := strings.Fields(rest); {
	case len(f) == 1 && f[0] == "additive":
		return 0, nil
	case len(f) == 2 && f[0] == "breaks-before":
		n, err := strconv.Atoi(f[1])
		if err != nil || n < 2 || n > version {
			return 0, fmt.Errorf("breaks-before %q: want a migration number from 2 to %d (this one's); a migration that every binary since 001 can run on is additive", f[1], version)
		}
		return n, nil
	}
	return 0, fmt.Errorf(`marker %q: want "additive" or "breaks-before N"`, strings.TrimSpace(rest))
}

// Applied is a migration as a schema records it.
type Applied struct {
	Version      int
	BreaksBefore int
	// By is the release of the binary that applied it ("" when not
	// recorded: applied before the compatibility markers were).
	By string
}

// TooNewError is the refusal of a binary to run on a schema that has a
// migration it does not know and cannot run without.
type TooNewError struct {
	// Store names the backend: "embedded store" or "PostgreSQL".
	Store string
	// Newest is the newest migration the schema has.
	Newest int
	// Needs is the oldest migration a binary must know to run on it.
	Needs int
	// NeedsBy is the release that applied migration Needs ("" unknown).
	NeedsBy string
	// Known is the newest migration this binary knows, and Release its
	// release.
	Known   int
	Release string
}

func (e *TooNewError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the %s schema is at migration %d and needs a binary that knows migration %d or later", e.Store, e.Newest, e.Needs)
	if e.NeedsBy != "" {
		fmt.Fprintf(&b, " (sluice %s, which applied it, does)", e.NeedsBy)
	}
	fmt.Fprintf(&b, "; this binary, sluice %s, knows migrations up to %d and changed nothing. ", e.Release, e.Known)
	if e.NeedsBy != "" {
		fmt.Fprintf(&b, "Run sluice %s or a later release", e.NeedsBy)
	} else {
		fmt.Fprintf(&b, "Run a release that knows migration %d", e.Needs)
	}
	b.WriteString(` ("sluice version" lists the migrations a binary knows), or restore the backup taken before the upgrade (docs/operations.md, "Rollback")`)
	return b.String()
}

// Check decides whether a binary whose newest migration is known (of
// release) may run on a schema whose migrations after known are newer: it
// may when none of them needs a binary that knows more than known. It
// returns nil or a *TooNewError for store (see TooNewError.Store).
func Check(store, release string, known int, newer []Applied) error {
	e := &TooNewError{Store: store, Known: known, Release: release}
	for _, a := range newer {
		if a.Version <= known {
			continue
		}
		e.Newest = max(e.Newest, a.Version)
		if a.BreaksBefore > e.Needs {
			e.Needs = a.BreaksBefore
		}
	}
	if e.Needs <= known {
		return nil
	}
	for _, a := range newer {
		if a.Version == e.Needs {
			e.NeedsBy = a.By
		}
	}
	return e
}

// Newest is the version of the last of ms (ordered as Load returns them),
// 0 for none.
func Newest(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}
