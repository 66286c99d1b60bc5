// Package sinktest is the conformance suite that every sink runs, as
// storetest is for stores: a sink package gives Run a New that makes a
// Harness (its configuration for a real destination started by the test,
// a way to read back what the destination received, and ways to make it
// fail), and Run checks ordered delivery within a stream, partial
// failures, an outage and recovery with nothing lost, a restart of the
// real binary by SIGKILL mid-batch with nothing lost, dead letters and
// their redrive, and replay.
//
// It also holds what the sinks' own tests share: Open (a sink for a
// test), CheckProblems (a Validate's problems, in order), CheckFields (a
// harness's YAML fields are its configuration), and Binary, StartBinary
// and Call (the real binary, run on one sinks: entry, and its API).
package sinktest
