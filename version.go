package sluice

import (
	"errors"
	"strconv"
)

// ExpectedVersion is the condition a stream append puts on the stream's
// current version. The zero value is AnyVersion.
type ExpectedVersion struct {
	kind    expectKind
	version uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectExact
)

var (
	// AnyVersion appends whatever the stream's version.
	AnyVersion = ExpectedVersion{}
	// NoStream appends only when the stream has no events.
	NoStream = ExpectedVersion{kind: expectNoStream}
	// StreamExists appends only when the stream has at least one event.
	StreamExists = ExpectedVersion{kind: expectExists}
)

// ExactVersion appends only when the stream's version is v. ExactVersion(0)
// is NoStream.
func ExactVersion(v uint64) ExpectedVersion {
	if v == 0 {
		return NoStream
	}
	return ExpectedVersion{kind: expectExact, version: v}
}

// ParseExpectedVersion reads the HTTP form: "any", "no_stream", "exists", or
// a version number.
func ParseExpectedVersion(s string) (ExpectedVersion, error) {
	switch s {
	case "", "any":
		return AnyVersion, nil
	case "no_stream":
		return NoStream, nil
	case "exists":
		return StreamExists, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return AnyVersion, errors.New(`expected version must be "any", "no_stream", "exists" or a version number`)
	}
	return ExactVersion(v), nil
}

// String is the HTTP form that ParseExpectedVersion reads.
func (ev ExpectedVersion) String() string {
	switch ev.kind {
	case expectNoStream:
		return "no_stream"
	case expectExists:
		return "exists"
	case expectExact:
		return strconv.FormatUint(ev.version, 10)
	}
	return "any"
}

// Allows reports whether a stream whose version is current (0: no stream)
// meets the expectation.
func (ev ExpectedVersion) Allows(current uint64) bool {
	switch ev.kind {
	case expectNoStream:
		return current == 0
	case expectExists:
		return current > 0
	case expectExact:
		return current == ev.version
	}
	return true
}

// Check returns a *WrongExpectedVersionError when current does not meet the
// expectation, nil otherwise.
func (ev ExpectedVersion) Check(stream string, current uint64) error {
	if ev.Allows(current) {
		return nil
	}
	return &WrongExpectedVersionError{Stream: stream, Expected: ev, Current: current}
}
