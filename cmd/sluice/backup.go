package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backupfile"
	"github.com/sluicehq/sluice/sqlite"
)

const backupUsage = `Usage: sluice backup [--server URL [--key KEY] | --data DIR] DEST

Writes a consistent copy of the embedded store into the directory DEST
(created; it must be empty), without stopping ingest: every event
acknowledged before the backup began is in it. The copy is a data
directory: 'sluice restore DEST --data DIR', or 'sluice serve --data' on a
copy of it, opens it.

	--server URL  the running sluice at URL takes the backup (POST
	              /v1/admin/backup) and sends it here; KEY (default
	              $SLUICE_ADMIN_KEY) is an admin key
	--data DIR    without --server: the data directory of a sluice that is
	              not running (default ./sluice-data). A running one holds
	              the directory's lock: use --server

A PostgreSQL store is backed up with pg_dump or point-in-time recovery
(docs/operations.md, "Backup and restore"). Progress goes to the standard
error.
`

const restoreUsage = `Usage: sluice restore SRC --data DIR

Copies the backup in the directory SRC (written by sluice backup) into the
data directory DIR, which must be missing or empty, and opens it once to
check it: the log's first position and head are printed. Then 'sluice serve
--data DIR' serves it.
`

// BackupCommand is "sluice backup".
type BackupCommand struct{ *Main }

// Run backs up the store that args name.
func (c *BackupCommand) Run(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("backup", flag.ContinueOnError)
	server := fset.String("server", "", "")
	key := fset.String("key", "", "")
	data := fset.String("data", DefaultConfig().Data, "")
	if err := c.parseFlags(fset, args, backupUsage); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return usageErrorf("backup: one destination directory expected; see 'sluice help backup'")
	}
	dest := fset.Arg(0)
	if strings.Contains(dest, "://") {
		return usageErrorf("backup: %q: only a directory is supported as the destination; copy it to object storage afterwards", dest)
	}
	d, err := backupfile.NewDir(dest)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var info sluice.BackupInfo
	if *server != "" {
		if *key == "" {
			*key, _ = c.LookupEnv("SLUICE_ADMIN_KEY")
		}
		info, err = c.fromServer(ctx, *server, *key, d)
	} else {
		info, err = c.fromDir(ctx, *data, d)
	}
	if err = errors.Join(err, d.Close()); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(c.Stdout, "backup of positions %d–%d in %s: %d files, %d bytes\n", info.First, info.Head, dest, info.Files, info.Bytes)
	return nil
}

// progress reports each file a backup writes on the standard error.
type progress struct {
	to  sluice.BackupWriter
	out io.Writer
}

func (p progress) WriteFile(name string, size int64, r io.Reader) error {
	fmt.Fprintf(p.out, "backup: %s (%d bytes)\n", name, size)
	return p.to.WriteFile(name, size, r)
}

// fromDir backs up the embedded store in dir, which no process has open.
func (c *BackupCommand) fromDir(ctx context.Context, dir string, d *backupfile.Dir) (sluice.BackupInfo, error) {
	if _, err := os.Stat(filepath.Join(dir, "sluice.db")); err != nil {
		return sluice.BackupInfo{}, fmt.Errorf("%s holds no store: %w", dir, err)
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Dir: dir})
	if err != nil {
		return sluice.BackupInfo{}, fmt.Errorf("%w (is sluice serving it? then use --server)", err)
	}
	info, err := s.Backup(ctx, progress{d, c.Stderr})
	return info, errors.Join(err, s.Close())
}

// fromServer has the sluice at url take the backup and unpacks it into d.
func (c *BackupCommand) fromServer(ctx context.Context, url, key string, d *backupfile.Dir) (sluice.BackupInfo, error) {
	var info sluice.BackupInfo
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(url, "/")+"/v1/admin/backup", nil)
	if err != nil {
		return info, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return info, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return info, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(c.Stderr, "backup: receiving from %s\n", url)
	if _, _, err := backupfile.Extract(resp.Body, d); err != nil {
		return info, err
	}
	trailer := resp.Trailer.Get("Sluice-Backup")
	if trailer == "" {
		return info, errors.New("the server's answer ended before the backup was complete (see its log)")
	}
	if err := json.Unmarshal([]byte(trailer), &info); err != nil {
		return info, fmt.Errorf("the server's Sluice-Backup trailer: %w", err)
	}
	return info, nil
}

// RestoreCommand is "sluice restore".
type RestoreCommand struct{ *Main }

// Run restores the backup that args name.
func (c *RestoreCommand) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(c.Stdout, restoreUsage)
			return flag.ErrHelp
		}
		return usageErrorf("restore: the backup directory comes first; see 'sluice help restore'")
	}
	src := args[0]
	fset := flag.NewFlagSet("restore", flag.ContinueOnError)
	data := fset.String("data", "", "")
	if err := c.parseFlags(fset, args[1:], restoreUsage); err != nil {
		return err
	}
	if *data == "" || fset.NArg() > 0 {
		return usageErrorf("restore: SRC --data DIR; see 'sluice help restore'")
	}
	if _, err := os.Stat(filepath.Join(src, "sluice.db")); err != nil {
		return fmt.Errorf("restore: %s is not a backup: %w", src, err)
	}
	d, err := backupfile.NewDir(*data)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := copyTree(src, progress{d, c.Stderr}); err != nil {
		return fmt.Errorf("restore: %w", errors.Join(err, d.Close()))
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Dir: *data})
	if err != nil {
		return fmt.Errorf("restore: open the copy: %w", err)
	}
	first, err := s.FirstPosition(ctx)
	var head sluice.Position
	if err == nil {
		head, err = s.Head(ctx)
	}
	if err = errors.Join(err, s.Close()); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(c.Stdout, "restored positions %d–%d into %s\n", first, head, *data)
	return nil
}

// copyTree hands every regular file under src to to.
func copyTree(src string, to sluice.BackupWriter) error {
	return filepath.WalkDir(src, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if !e.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		_, err = backupfile.WriteFrom(to, filepath.ToSlash(rel), path)
		return err
	})
}
