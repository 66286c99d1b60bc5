package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/httpapi"
)

// Sizes of a batch read from a file.
const (
	// batchEvents bounds the events of a batch.
	batchEvents = 1000
	// batchBytes bounds the bytes of a batch's lines.
	batchBytes = 1 << 20
	// MaxLineBytes bounds one line; a longer one is rejected (an event is
	// at most 1 MiB by default, its line a little more).
	MaxLineBytes = 8 << 20
)

// NDJSONSource reads events from NDJSON, one a line, plain or gzip (told
// by its first bytes): stored events or native envelopes as the log API
// and sluice export write them, or CloudEvents in the JSON format. Blank
// lines are skipped; a line that is not an event is a reject.
type NDJSONSource struct {
	name        string
	cloudEvents bool
	raw         *countingReader
	r           *bufio.Reader
	closers     []io.Closer
	size        int64
	line        int64
}

var (
	_ Source = (*NDJSONSource)(nil)
	_ Sized  = (*NDJSONSource)(nil)
)

// NewNDJSONSource reads r, named name in rejects, of size bytes (0 when
// unknown), closing c (if not nil) on Close.
func NewNDJSONSource(name string, r io.Reader, size int64, cloudEvents bool, c io.Closer) (*NDJSONSource, error) {
	s := &NDJSONSource{name: name, cloudEvents: cloudEvents, size: size, raw: &countingReader{r: r}}
	if c != nil {
		s.closers = append(s.closers, c)
	}
	br := bufio.NewReaderSize(s.raw, 256<<10)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s.r = br
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		s.closers = append(s.closers, zr)
		s.r = bufio.NewReaderSize(zr, 256<<10)
	}
	return s, nil
}

// OpenFile opens the NDJSON file at path ("-": the standard input).
func OpenFile(path string, cloudEvents bool) (*NDJSONSource, error) {
	if path == "-" {
		return NewNDJSONSource("stdin", os.Stdin, 0, cloudEvents, nil)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	s, err := NewNDJSONSource(path, f, size, cloudEvents, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// Next reads the next lines, up to a batch.
func (s *NDJSONSource) Next(ctx context.Context) (Batch, error) {
	if err := ctx.Err(); err != nil {
		return Batch{}, err
	}
	// The lines are copied into one buffer, filled first and decoded after,
	// so that the events' data, slices of it, stay valid.
	arena := make([]byte, 0, batchBytes+64<<10)
	type span struct {
		start, end int
		line       int64
	}
	var (
		spans [batchEvents]span
		n     int
		b     Batch
		rerr  error
	)
	for n < batchEvents && len(arena) < batchBytes {
		var line []byte
		line, rerr = s.readLine()
		if line == nil && rerr != nil {
			break
		}
		s.line++
		if errors.Is(rerr, errLineTooLong) {
			b.Rejects = append(b.Rejects, Reject{Where: s.Where(s.line), Reason: rerr.Error(), Record: line[:1024]})
			rerr = nil
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		start := len(arena)
		arena = append(arena, line...)
		spans[n] = span{start, len(arena), s.line}
		n++
		if rerr != nil {
			break
		}
	}
	if n > 0 {
		b.Events, b.Marks = make([]sluice.Event, 0, n), make([]int64, 0, n)
	}
	for _, sp := range spans[:n] {
		rec := arena[sp.start:sp.end:sp.end]
		e, err := httpapi.DecodeLine(rec, s.cloudEvents)
		if err != nil {
			b.Rejects = append(b.Rejects, Reject{Where: s.Where(sp.line), Reason: err.Error(), Record: rec})
			continue
		}
		b.add(e, sp.line)
	}
	if rerr != nil && !errors.Is(rerr, io.EOF) {
		return Batch{}, fmt.Errorf("%s: %w", s.name, rerr)
	}
	if rerr != nil && n == 0 && len(b.Rejects) == 0 {
		return Batch{}, io.EOF
	}
	return b, nil
}

var errLineTooLong = fmt.Errorf("the line is longer than %d bytes", MaxLineBytes)

// readLine returns the next line without its newline (a last line without
// one too). Over MaxLineBytes it returns the line's start with
// errLineTooLong and skips the rest.
func (s *NDJSONSource) readLine() ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	if err == nil {
		return line[:len(line)-1], nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		if len(line) == 0 {
			return nil, err
		}
		return line, err
	}
	long := append([]byte(nil), line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = s.r.ReadSlice('\n')
		if len(long) <= MaxLineBytes {
			long = append(long, line...)
		}
	}
	if err == nil {
		long = long[:len(long)-1]
	}
	if len(long) > MaxLineBytes {
		return long, errLineTooLong
	}
	return long, err
}

// Where is the file and line.
func (s *NDJSONSource) Where(line int64) string { return s.name + ":" + strconv.FormatInt(line, 10) }

// Progress is the bytes read of the file (compressed, when it is) and its
// size.
func (s *NDJSONSource) Progress() (done, total int64) { return s.raw.n.Load(), s.size }

// Close closes the file.
func (s *NDJSONSource) Close() error {
	var err error
	for i := len(s.closers) - 1; i >= 0; i-- {
		err = errors.Join(err, s.closers[i].Close())
	}
	return err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// NDJSONWriter is a Target that writes events as NDJSON, one stored event
// a line as the log API returns it, optionally gzip-compressed.
type NDJSONWriter struct {
	w    *bufio.Writer
	zw   *gzip.Writer
	f    *os.File
	path string // the final name of a file written under a temporary one
	buf  []byte
}

var _ Target = (*NDJSONWriter)(nil)

// NewNDJSONWriter writes to w, compressed when gz.
func NewNDJSONWriter(w io.Writer, gz bool) *NDJSONWriter {
	n := &NDJSONWriter{}
	if gz {
		n.zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed) // the level is valid
		w = n.zw
	}
	n.w = bufio.NewWriterSize(w, 256<<10)
	return n
}

// CreateFile writes the file path under a temporary name, renamed to path
// by a successful Close: a failed export leaves no half-written file.
func CreateFile(path string, gz bool) (*NDJSONWriter, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	n := NewNDJSONWriter(f, gz)
	n.f, n.path = f, path
	return n, nil
}

// Write writes the events' lines.
func (n *NDJSONWriter) Write(_ context.Context, events []sluice.Event) (Written, error) {
	for i := range events {
		n.buf = append(events[i].AppendJSON(n.buf[:0]), '\n')
		if _, err := n.w.Write(n.buf); err != nil {
			return Written{}, fmt.Errorf("write: %w", err)
		}
	}
	return Written{Stored: len(events)}, nil
}

// Close flushes what is buffered and, for a file, syncs it and gives it
// its name.
func (n *NDJSONWriter) Close() error {
	err := n.w.Flush()
	if n.zw != nil {
		err = errors.Join(err, n.zw.Close())
	}
	if n.f == nil {
		return err
	}
	// CreateTemp made it 0600; an export is an ordinary file.
	err = errors.Join(err, n.f.Chmod(0o644), n.f.Sync(), n.f.Close())
	if err == nil {
		err = os.Rename(n.f.Name(), n.path)
	}
	if err != nil {
		os.Remove(n.f.Name())
		return fmt.Errorf("write %s: %w", n.path, err)
	}
	return nil
}

// Abort removes the temporary file of a failed export.
func (n *NDJSONWriter) Abort() {
	if n.f != nil {
		n.f.Close()
		os.Remove(n.f.Name())
	}
}
