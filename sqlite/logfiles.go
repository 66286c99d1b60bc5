package sqlite

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/sluicehq/sluice"
)

// segments are the files that hold the log's events, in <dir>/segments/,
// each named by the first position it holds (%020d.seg) and holding frames
// (frames.go). Only the last one is written to, at its end; a new one is
// started when the last passes maxSize. Readers read any of them with
// pread (ReadAt), which needs no lock on the file.
type segments struct {
	dir     string
	maxSize int64

	mu    sync.RWMutex
	files map[sluice.Position]*os.File // every segment, by first position

	// The writer's part, used under Store.mu only. last is the segment
	// written to (nil before the first), and end where its next frame
	// goes; from end to zeroed the file holds zeros written ahead (see
	// zeroAhead).
	lastFirst sluice.Position
	last      *os.File
	end       int64
	zeroed    int64
}

// zeroAhead is how far past its frames a segment file is extended with
// zeros. fdatasync of a write that grows a file commits the file system's
// journal (the new size, the new blocks); of a write over blocks the file
// has, only the data: on this machine's ext4, 0.4–0.9 ms against
// 0.9–2.6 ms for 200 KiB (docs/decisions.md, D86). The zeros are written
// with the frames of the commit that reaches them and synced by its
// fdatasync; Close and a new segment cut them off again.
// (A variable: BenchmarkSegments_Write measures the store without it.)
var zeroAhead int64 = 4 << 20

// zeros is what is written ahead: never written to, so its pages are the
// kernel's shared zero page and cost no memory.
var zeros = make([]byte, 4<<20)

const segmentSuffix = ".seg"

func segmentName(first sluice.Position) string {
	return fmt.Sprintf("%020d%s", first, segmentSuffix)
}

// openSegments opens the segment files in dir (created when missing) and
// returns them with their first positions in order.
func openSegments(dir string, maxSize int64) (*segments, []sluice.Position, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	sg := &segments{dir: dir, maxSize: maxSize, files: map[sluice.Position]*os.File{}}
	var firsts []sluice.Position
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, e.Name()), os.O_RDWR, 0)
		if err != nil {
			return nil, nil, errors.Join(err, sg.close())
		}
		sg.files[sluice.Position(first)] = f
		firsts = append(firsts, sluice.Position(first))
	}
	slices.Sort(firsts)
	if len(firsts) > 0 {
		if err := sg.resume(firsts[len(firsts)-1]); err != nil {
			return nil, nil, errors.Join(err, sg.close())
		}
	}
	return sg, firsts, nil
}

// resume makes the segment that starts at first the one written to, at its
// current end.
func (sg *segments) resume(first sluice.Position) error {
	f := sg.files[first]
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	sg.lastFirst, sg.last, sg.end, sg.zeroed = first, f, fi.Size(), fi.Size()
	return nil
}

// write writes frames, whose first position is first, at the end of the
// last segment, or of a new one named first when the last has reached
// maxSize, and returns the segment and the offset they are at. It does not
// sync them (sync does); on a failure the segment is cut back to where it
// was. Starting a segment syncs the one before and the directory.
func (sg *segments) write(frames []byte, first sluice.Position) (sluice.Position, int64, error) {
	if sg.last == nil || sg.end >= sg.maxSize {
		if err := sg.start(first); err != nil {
			return 0, 0, err
		}
	}
	at, end := sg.end, sg.end+int64(len(frames))
	if _, err := sg.last.WriteAt(frames, at); err != nil {
		return 0, 0, errors.Join(err, sg.cutBack(at))
	}
	sg.end = end
	if end > sg.zeroed && zeroAhead > 0 {
		sg.zeroed = end + zeroAhead
		if _, err := sg.last.WriteAt(zeros[:zeroAhead], end); err != nil {
			// Zeros are a speed-up: on a disk too full for them, the
			// frames go without (and the file is cut to them).
			if err := sg.last.Truncate(end); err != nil {
				return 0, 0, errors.Join(err, sg.cutBack(at))
			}
			sg.zeroed = end
		}
	}
	return sg.lastFirst, at, nil
}

// start creates the segment that starts at first and makes it the last.
func (sg *segments) start(first sluice.Position) error {
	if sg.last != nil {
		if err := sg.cut(sg.end); err != nil { // the zeros written ahead
			return err
		}
	}
	path := filepath.Join(sg.dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := syncDir(sg.dir); err != nil {
		return errors.Join(err, f.Close(), os.Remove(path))
	}
	sg.mu.Lock()
	sg.files[first] = f
	sg.mu.Unlock()
	sg.lastFirst, sg.last, sg.end, sg.zeroed = first, f, 0, 0
	return nil
}

// sync makes what was written to the last segment durable.
func (sg *segments) sync() error {
	if sg.last == nil {
		return nil
	}
	return fdatasync(sg.last)
}

// cut truncates the last segment to size and syncs it: what a failed
// commit wrote after size is gone.
func (sg *segments) cut(size int64) error {
	if err := sg.last.Truncate(size); err != nil {
		return err
	}
	sg.end, sg.zeroed = size, size
	return fdatasync(sg.last)
}

// errCutBack says that a failed commit's bytes could not be cut off the
// segment: the store must not append after them (see Store.Append).
var errCutBack = errors.New("a failed commit's bytes could not be cut off the segment file")

// cutBack cuts the last segment back to size after a failed write; its
// error is errCutBack.
func (sg *segments) cutBack(size int64) error {
	if err := sg.cut(size); err != nil {
		return fmt.Errorf("%w %s: %w", errCutBack, segmentName(sg.lastFirst), err)
	}
	return nil
}

// remove deletes the segment that starts at first (recovery does, for
// segments after a torn frame). It is never the last.
func (sg *segments) remove(first sluice.Position) error {
	sg.mu.Lock()
	f := sg.files[first]
	delete(sg.files, first)
	sg.mu.Unlock()
	return errors.Join(f.Close(), os.Remove(filepath.Join(sg.dir, segmentName(first))))
}

// read reads length bytes at offset off of the segment that starts at
// first.
func (sg *segments) read(first sluice.Position, off, length int64) ([]byte, error) {
	sg.mu.RLock()
	f := sg.files[first]
	sg.mu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("segment file %s is missing", segmentName(first))
	}
	b := make([]byte, length)
	if _, err := f.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: the file ends first", errTornFrame)
		}
		return nil, fmt.Errorf("segment file %s, offset %d: %w", segmentName(first), off, err)
	}
	return b, nil
}

// size is the current size of the segment that starts at first.
func (sg *segments) size(first sluice.Position) (int64, error) {
	sg.mu.RLock()
	f := sg.files[first]
	sg.mu.RUnlock()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// close closes the files, having cut the zeros written ahead off the last.
func (sg *segments) close() error {
	var errs []error
	if sg.last != nil && sg.zeroed > sg.end {
		errs = append(errs, sg.cut(sg.end))
	}
	sg.mu.Lock()
	defer sg.mu.Unlock()
	for first, f := range sg.files {
		errs = append(errs, f.Close())
		delete(sg.files, first)
	}
	sg.last = nil
	return errors.Join(errs...)
}

// fdatasync flushes f's data and the size that reads of it need, not its
// other metadata (times): the one flush a commit pays.
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// syncDir makes the directory's entries (a file created or removed)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
