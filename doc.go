// Package sluice is the domain of the sluice event backbone: the Event, its
// positions and versions, the Store contract that every log backend
// implements, the sentinel errors, and the Writer that turns many small
// appends into group commits.
//
// The package imports nothing but the standard library; backends (sqlite,
// postgres) and the HTTP edge import it, never the other way round.
package sluice
