// Package reliability holds the reliability harness: tests that run the real
// sluice binary through crashes, a database outage, the failover of a
// subscription between two processes, overload, a full disk and bad
// clients, and check that it never loses an acknowledged event and keeps
// its memory bounded (issues 4/8 and 5/8; docs/reliability.md has the
// figures).
//
// The package has no code of its own, only tests. `make reliability` runs
// them one package at a time after `make test`, because the database outage
// stops the machine's PostgreSQL. SLUICE_RELIABILITY=full selects the full
// version (20 crash rounds per backend, 60 s of overload), "short" (what
// make reliability sets by default) the short version that CI runs; unset,
// as under make test, the package runs nothing. Each scenario logs its figures and one
// line "RESULT <scenario>: <figures>, PASS|FAIL", and the run ends with a
// table of them.
package reliability
