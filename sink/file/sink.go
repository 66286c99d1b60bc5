package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sink"
)

var _ sluice.Sink = (*Sink)(nil)

// Sink appends records to a file, or writes them to the standard output.
type Sink struct {
	path     string
	maxBytes int64
	maxFiles int
	fsync    bool
	stdout   io.Writer // set for "-"
	log      *slog.Logger

	mu  sync.Mutex // one delivery writes at a time
	buf []byte     // the batch's lines, reused
}

// Deliver writes the records' bodies, one per line, with one write (and
// one fsync). A write error fails the whole batch, retryably, and what of
// it was written is cut off again.
func (s *Sink) Deliver(ctx context.Context, records []sluice.SinkRecord) error {
	if len(records) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	s.buf = appendLines(s.buf[:0], records)
	if s.stdout != nil {
		if _, err := s.stdout.Write(s.buf); err != nil {
			return fmt.Errorf("write the standard output: %w", err)
		}
		return nil
	}
	return s.append(s.buf)
}

// appendLines appends each body as a line (sink.AppendLine).
func appendLines(b []byte, records []sluice.SinkRecord) []byte {
	for _, r := range records {
		b = sink.AppendLine(b, r.Body)
	}
	return b
}

// append appends the lines to the file, rotating it first when they would
// grow it past maxBytes.
func (s *Sink) append(lines []byte) error {
	h, err := s.open()
	if err != nil {
		return err
	}
	if h.size > 0 && h.size+int64(len(lines)) > s.maxBytes {
		h.f.Close()
		if err := s.rotate(); err != nil {
			return err
		}
		if h, err = s.open(); err != nil {
			return err
		}
	}
	defer h.f.Close()
	if _, err := h.f.Write(lines); err != nil {
		return h.undo(fmt.Errorf("write %s: %w", s.path, err))
	}
	if s.fsync {
		if err := h.f.Sync(); err != nil {
			return h.undo(fmt.Errorf("fsync %s: %w", s.path, err))
		}
		if h.created {
			if err := syncDir(filepath.Dir(s.path)); err != nil {
				return err
			}
		}
	}
	return h.f.Close()
}

// handle is the file opened for a delivery.
type handle struct {
	f       *os.File
	size    int64 // before the delivery
	created bool  // by this open
	regular bool  // not a device (/dev/null, /dev/full)
}

// open opens the file for appending, creating it when missing, once a
// last line left without its newline (a write torn by a crash, or one
// whose undo failed) is cut off.
func (s *Sink) open() (handle, error) {
	var h handle
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(s.path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
		h.created = err == nil
	}
	if err != nil {
		return h, err
	}
	h.f = f
	st, err := f.Stat()
	if err == nil {
		h.size, h.regular = st.Size(), st.Mode().IsRegular()
		var cut int64
		if cut, err = h.cutTornLine(); cut > 0 {
			s.log.Warn("file: cut a last line without its newline", "path", s.path, "bytes", cut)
		}
	}
	if err != nil {
		f.Close()
		return h, fmt.Errorf("%s: %w", s.path, err)
	}
	return h, nil
}

// cutTornLine truncates the file after its last newline when its last
// byte is not one, and returns how many bytes it cut.
func (h *handle) cutTornLine() (int64, error) {
	if h.size == 0 || !h.regular {
		return 0, nil
	}
	buf := make([]byte, 4096)
	if _, err := h.f.ReadAt(buf[:1], h.size-1); err != nil || buf[0] == '\n' {
		return 0, err
	}
	end := h.size - 1 // the last newline is before end
	for end > 0 {
		n := min(int64(len(buf)), end)
		if _, err := h.f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if err := h.f.Truncate(end); err != nil {
		return 0, fmt.Errorf("cut the torn last line: %w", err)
	}
	cut := h.size - end
	h.size = end
	return cut, nil
}

// undo cuts off what a failed write left of the batch, and returns err.
func (h *handle) undo(err error) error {
	if !h.regular {
		return err
	}
	if terr := h.f.Truncate(h.size); terr != nil {
		// The next open cuts the torn line.
		return fmt.Errorf("%w (and cutting it off again: %v)", err, terr)
	}
	return err
}

// syncDir flushes a directory's entries: a new file's name, a rename.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// The time in a rotated file's name: UTC, to the millisecond, so that the
// names sort in rotation order.
const rotatedLayout = "20060102T150405.000Z"

// rotatedName is the name the file gets when rotated at t: out.ndjson
// becomes out-20260102T150405.123Z.ndjson, beside it.
func (s *Sink) rotatedName(t time.Time) string {
	stem, ext := s.stemExt()
	return stem + "-" + t.UTC().Format(rotatedLayout) + ext
}

// stemExt splits the path before its extension.
func (s *Sink) stemExt() (stem, ext string) {
	ext = filepath.Ext(s.path)
	if ext == s.path || strings.HasSuffix(strings.TrimSuffix(s.path, ext), string(filepath.Separator)) {
		ext = "" // a name that starts with its only dot, .events
	}
	return strings.TrimSuffix(s.path, ext), ext
}

// rotate renames the file to its rotated name (a millisecond later when a
// file has that name) and removes the oldest rotated files beyond
// maxFiles. The next open creates the file again.
func (s *Sink) rotate() error {
	t := time.Now()
	name := s.rotatedName(t)
	for {
		if _, err := os.Lstat(name); errors.Is(err, os.ErrNotExist) {
			break
		}
		t = t.Add(time.Millisecond)
		name = s.rotatedName(t)
	}
	if err := os.Rename(s.path, name); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	rotated, err := s.rotated()
	if err != nil {
		s.log.Warn("file: list the rotated files", "err", err)
		return nil
	}
	for _, old := range rotated[:max(0, len(rotated)-s.maxFiles)] {
		if err := os.Remove(old); err != nil {
			s.log.Warn("file: remove a rotated file", "err", err)
		}
	}
	return nil
}

// rotated returns the rotated files' paths, oldest first.
func (s *Sink) rotated() ([]string, error) {
	stem, ext := s.stemExt()
	entries, err := os.ReadDir(filepath.Dir(s.path))
	if err != nil {
		return nil, err
	}
	prefix := filepath.Base(stem) + "-"
	var out []string
	for _, e := range entries {
		name := e.Name()
		ts, okPrefix := strings.CutPrefix(name, prefix)
		ts, okSuffix := strings.CutSuffix(ts, ext)
		if !okPrefix || !okSuffix || !e.Type().IsRegular() {
			continue
		}
		if _, err := time.Parse(rotatedLayout, ts); err == nil {
			out = append(out, filepath.Join(filepath.Dir(s.path), name))
		}
	}
	slices.Sort(out)
	return out, nil
}

// Close releases nothing: no file is kept open between deliveries.
func (s *Sink) Close() error { return nil }
