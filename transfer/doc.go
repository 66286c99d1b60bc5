// Package transfer moves events into and out of a sluice log: the sources
// that read them (NDJSON and CloudEvents files, plain or gzip; another
// sluice's log; a store's log), the targets that take them (a store, a
// server over the API, an NDJSON file), the pipeline between them (Copy),
// the reject file that keeps what could not be moved and why, and the
// progress reporter. Sources of other systems live in packages of their
// own below it.
package transfer
