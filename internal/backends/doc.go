// Package backends runs a test on every store backend: the embedded store,
// and PostgreSQL in a schema of the test's own. It is for tests only.
package backends
