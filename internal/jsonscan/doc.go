// Package jsonscan is sluice's one JSON scanner: the grammar of RFC 8259
// read in place, without allocating, by the edge's decoders (httpapi), which
// pick an envelope's members out of a request body as they check it, and
// by the commit path (sluice.Limits.Prepare), which checks that data and
// metadata are JSON. It gives the answers of encoding/json, except that a
// string must be UTF-8 (JSON text is UTF-8, RFC 8259 section 8.1), at
// several times its speed; FuzzValid compares the two on every input.
// AppendString writes a string the way encoding/json does, for the answers
// and events written by hand (FuzzAppendString compares them).
//
// The functions take a text b and an offset i, and return the offset after
// what they read and a *SyntaxError, which is nil unless b is malformed
// there: a valid text costs no allocation.
package jsonscan
