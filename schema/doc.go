// Package schema is the schema registry of sluice: it compiles, caches and
// applies the JSON Schemas (draft 2020-12) of event types, whose versions
// are stored through a sluice.Schemas. Every ingested event's data is
// checked against the latest version for its type, and every violation is
// reported with the JSON pointer of the offending value in the event
// (/data/...), the keyword that failed and a message for the developer.
//
// A Registry keeps the compiled schemas in memory; it sees versions
// registered through itself at once and those registered by other
// processes sharing the store after its next refresh (Run).
package schema
