package backupfile

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice"
)

// Dir writes a backup's files under a directory: each to a temporary name,
// fsync'd, then renamed; Close syncs the directories.
type Dir struct {
	root string
	dirs map[string]bool // the directories written into, to sync
}

var _ sluice.BackupWriter = (*Dir)(nil)

// NewDir returns a Dir writing under root, which must be missing or empty.
func NewDir(root string) (*Dir, error) {
	if err := EnsureEmpty(root); err != nil {
		return nil, err
	}
	return &Dir{root: root, dirs: map[string]bool{root: true}}, nil
}

// EnsureEmpty creates dir when it is missing and fails when it holds
// anything: a backup or a restore never mixes its files with others.
func EnsureEmpty(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	return nil
}

// WriteFile writes name's size bytes from r.
func (d *Dir) WriteFile(name string, size int64, r io.Reader) error {
	if err := CheckName(name); err != nil {
		return err
	}
	dst := filepath.Join(d.root, filepath.FromSlash(name))
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d.dirs[dir] = true
	f, err := os.OpenFile(dst+".tmp", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s: %d bytes, expected %d", name, n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return errors.Join(err, os.Remove(dst+".tmp"))
	}
	return os.Rename(dst+".tmp", dst)
}

// Close makes the files' names durable.
func (d *Dir) Close() error {
	var errs []error
	for dir := range d.dirs {
		f, err := os.Open(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, f.Sync(), f.Close())
	}
	return errors.Join(errs...)
}

// CheckName accepts the names of a backup's files: relative, clean,
// slash-separated paths that stay inside the copy (no "..", no absolute
// path, no empty or dot element).
func CheckName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) || path.Clean(name) != name {
		return fmt.Errorf("backup file name %q: not a clean relative path", name)
	}
	for el := range strings.SplitSeq(name, "/") {
		if el == ".." || el == "." || el == "" {
			return fmt.Errorf("backup file name %q: not a clean relative path", name)
		}
	}
	return nil
}

// Tar writes a backup's files as a tar stream.
type Tar struct{ w *tar.Writer }

var _ sluice.BackupWriter = (*Tar)(nil)

// NewTar returns a Tar writing to w; Close ends the stream.
func NewTar(w io.Writer) *Tar { return &Tar{w: tar.NewWriter(w)} }

// WriteFile writes one entry.
func (t *Tar) WriteFile(name string, size int64, r io.Reader) error {
	if err := t.w.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644}); err != nil {
		return err
	}
	n, err := io.Copy(t.w, r)
	if err == nil && n != size {
		err = fmt.Errorf("%s: %d bytes, expected %d", name, n, size)
	}
	return err
}

// Close writes the end of the stream.
func (t *Tar) Close() error { return t.w.Close() }

// Extract hands the regular files of the tar stream r to to (a Dir, or a
// Tar that passes the stream on), and refuses any other entry or a name
// CheckName refuses. It returns how many files and bytes it handed on.
func Extract(r io.Reader, to sluice.BackupWriter) (files int, bytes int64, err error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, bytes, nil
		}
		if err != nil {
			return files, bytes, fmt.Errorf("read backup stream: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return files, bytes, fmt.Errorf("read backup stream: %s: not a regular file", h.Name)
		}
		if err := CheckName(h.Name); err != nil {
			return files, bytes, fmt.Errorf("read backup stream: %w", err)
		}
		if err := to.WriteFile(h.Name, h.Size, tr); err != nil {
			return files, bytes, fmt.Errorf("read backup stream: %w", err)
		}
		files, bytes = files+1, bytes+h.Size
	}
}

// WriteFrom hands the file at path to to as name, and returns its size.
func WriteFrom(to sluice.BackupWriter, name, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if err := to.WriteFile(name, fi.Size(), f); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return fi.Size(), nil
}
