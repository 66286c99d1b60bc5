// Package testutil holds test helpers shared by the packages of sluice: the
// test PostgreSQL (a schema of its own per test) and polling with a deadline.
package testutil
