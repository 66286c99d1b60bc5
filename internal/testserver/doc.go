// Package testserver runs sluice's HTTP API in process over a store, wired
// as serve wires it: a group-commit writer, the schema registry loaded and
// kept refreshed, the store's keys kept refreshed, an httptest server.
// For tests and examples only.
package testserver
