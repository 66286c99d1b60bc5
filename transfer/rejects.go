package transfer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// Reject is a record that could not be moved, and why.
type Reject struct {
	// Where names the record's place in the source.
	Where string
	// Reason says what is wrong with it.
	Reason string
	// Record is the record as read (or the event as it would have been
	// written).
	Record []byte
}

// RejectFile is an NDJSON file of rejects, one object a line: where,
// reason, and record (the record's JSON when it is JSON, else its text as
// a string). The file is created at the first reject, so a copy without
// any leaves none.
type RejectFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	buf  []byte
}

// NewRejectFile returns the reject file at path.
func NewRejectFile(path string) *RejectFile { return &RejectFile{path: path} }

// Path is the file's name.
func (r *RejectFile) Path() string { return r.path }

// Write adds one reject. A nil RejectFile keeps nothing.
func (r *RejectFile) Write(rj Reject) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("rejects: %w", err)
		}
		r.f, r.w = f, bufio.NewWriter(f)
	}
	b := jsonscan.AppendMember(r.buf[:0], `{"where":`, rj.Where)
	b = jsonscan.AppendMember(b, `,"reason":`, rj.Reason)
	b = append(b, `,"record":`...)
	if json.Valid(rj.Record) {
		b = append(b, rj.Record...)
	} else {
		b = jsonscan.AppendString(b, string(rj.Record))
	}
	b = append(b, "}\n"...)
	r.buf = b
	if _, err := r.w.Write(b); err != nil {
		return fmt.Errorf("rejects: %w", err)
	}
	return nil
}

// Flush writes out what is buffered.
func (r *RejectFile) Flush() error {
	if r == nil || r.f == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.w.Flush(); err != nil {
		return fmt.Errorf("rejects: %w", err)
	}
	return nil
}

// Close flushes and closes the file, if there is one.
func (r *RejectFile) Close() error {
	if r == nil || r.f == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.w.Flush()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rejects: %w", err)
	}
	return nil
}
