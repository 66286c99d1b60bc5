package sluice

import (
	"context"
	"encoding/json"
	"time"
)

// SchemaVersion is one registered version of the JSON Schema of an event
// type.
type SchemaVersion struct {
	Type string `json:"type"`
	// Version counts from 1 per type.
	Version int `json:"version"`
	// Schema is the document as registered, in canonical form (compact,
	// object members sorted), so that registering equal documents twice is
	// recognised.
	Schema json.RawMessage `json:"schema"`
	// CreatedAt is when this version was registered.
	CreatedAt time.Time `json:"created_at"`
}

// Schemas is the schema registry's storage, shared by every process that
// shares the store. It stores documents; compiling and validating is the
// schema package's work.
type Schemas interface {
	// PutSchema stores doc as the next version of typ's schema and returns
	// it with created true, unless doc equals the latest version's bytes:
	// then it returns that version with created false.
	PutSchema(ctx context.Context, typ string, doc []byte) (v SchemaVersion, created bool, err error)
	// Schema returns version of typ's schema; version 0 is the latest.
	// ErrSchemaNotFound when there is none.
	Schema(ctx context.Context, typ string, version int) (SchemaVersion, error)
	// LatestSchemas returns the latest version of every type's schema,
	// ordered by type.
	LatestSchemas(ctx context.Context) ([]SchemaVersion, error)
}
