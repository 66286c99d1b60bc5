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
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backupfile"
	"github.com/sluicehq/sluice/sqlite"
	"github.com/sluicehq/sluice/transfer/s3"
)

const backupUsage = `Usage: sluice backup [--server URL [--key KEY] | --data DIR] DEST

Writes a consistent copy of the embedded store, without stopping ingest:
every event acknowledged before the backup began is in it. DEST is

	DIR               a directory (created; it must be empty): the copy is a
	                  data directory that 'sluice restore DIR --data D', or
	                  'sluice serve --data' on a copy of it, opens
	s3://BUCKET/PREFIX/
	                  one tar object PREFIX/sluice-backup-TIME.tar (TIME
	                  in UTC, 20261203T021500.000Z), streamed up as it is
	                  taken (parts of 16 MiB: at most 156 GiB); it appears
	                  only once the copy is complete, and an interrupted
	                  backup leaves none. 'sluice restore s3://BUCKET/PREFIX/'
	                  restores the newest

	--server URL  the running sluice at URL takes the backup (POST
	              /v1/admin/backup) and sends it here; KEY (default
	              $SLUICE_ADMIN_KEY) is an admin key
	--data DIR    without --server: the data directory of a sluice that is
	              not running (default ./sluice-data). A running one holds
	              the directory's lock: use --server
	--region R, --endpoint URL, --profile P, --path-style
	              S3: AWS region, endpoint (MinIO), shared-configuration
	              profile, bucket in the path; credentials come from the
	              SDK's default chain

A PostgreSQL store is backed up with pg_dump or point-in-time recovery
(docs/operations.md, "Backup and restore"). Progress goes to the standard
error. SIGINT or SIGTERM stops the backup (an S3 upload is aborted).
`

const restoreUsage = `Usage: sluice restore SRC --data DIR

Copies the backup SRC (written by sluice backup) into the data directory
DIR, which must be missing or empty, and opens it once to check it: the
log's first position and head are printed. Then 'sluice serve --data DIR'
serves it. SRC is

	DIR                   a backup directory
	s3://BUCKET/KEY       a backup object
	s3://BUCKET/PREFIX/   the newest backup object in that folder (by the
	                      time in its name, sluice-backup-TIME.tar)

	--region R, --endpoint URL, --profile P, --path-style
	              S3: as for sluice backup

A restore that fails leaves DIR empty.
`

// backupName is the name of a backup object: its time, in UTC, sorts as
// its name does.
const (
	backupPrefix = "sluice-backup-"
	backupTime   = "20060102T150405.000Z"
	backupSuffix = ".tar"
)

// BackupCommand is "sluice backup".
type BackupCommand struct{ *Main }

// Run backs up the store that args name.
func (c *BackupCommand) Run(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("backup", flag.ContinueOnError)
	server := fset.String("server", "", "")
	key := fset.String("key", "", "")
	data := fset.String("data", DefaultConfig().Data, "")
	awsf := addAWSFlags(fset)
	if err := c.parseFlags(fset, args, backupUsage); err != nil {
		return err
	}
	// SIGINT or SIGTERM stops the backup: an upload to S3 is aborted.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if fset.NArg() != 1 {
		return usageErrorf("backup: one destination (a directory or s3://BUCKET/PREFIX/) expected; see 'sluice help backup'")
	}
	dest := fset.Arg(0)
	isS3 := strings.HasPrefix(dest, "s3://")
	if strings.Contains(dest, "://") && !isS3 {
		return usageErrorf("backup: %q: the destination is a directory or s3://BUCKET/PREFIX/", dest)
	}
	take := func(to sluice.BackupWriter) (sluice.BackupInfo, error) { return c.fromDir(ctx, *data, to) }
	if *server != "" {
		if *key == "" {
			*key, _ = c.LookupEnv("SLUICE_ADMIN_KEY")
		}
		take = func(to sluice.BackupWriter) (sluice.BackupInfo, error) { return c.fromServer(ctx, *server, *key, to) }
	}
	var info sluice.BackupInfo
	var err error
	if isS3 {
		var o s3.Options
		if o, err = awsf.s3(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		dest, info, err = c.toS3(ctx, dest, o, take)
	} else {
		info, err = c.toDir(dest, take)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(c.Stdout, "backup of positions %d–%d in %s: %d files, %d bytes\n", info.First, info.Head, dest, info.Files, info.Bytes)
	return nil
}

// progress reports each file of a backup or restore on the standard error.
type progress struct {
	to  sluice.BackupWriter
	out io.Writer
	cmd string // backup, restore
}

func (p progress) WriteFile(name string, size int64, r io.Reader) error {
	fmt.Fprintf(p.out, "%s: %s (%d bytes)\n", p.cmd, name, size)
	return p.to.WriteFile(name, size, r)
}

// toDir has take write the backup into the new directory dest.
func (c *BackupCommand) toDir(dest string, take func(sluice.BackupWriter) (sluice.BackupInfo, error)) (sluice.BackupInfo, error) {
	d, err := backupfile.NewDir(dest)
	if err != nil {
		return sluice.BackupInfo{}, err
	}
	info, err := take(progress{d, c.Stderr, "backup"})
	return info, errors.Join(err, d.Close())
}

// toS3 has take write the backup as a tar streamed into a new object under
// the folder url, and returns the object's URL. The tar ends (and so the
// upload completes) only once take has returned without an error: for a
// server's stream, after its trailer said it was complete.
func (c *BackupCommand) toS3(ctx context.Context, url string, o s3.Options, take func(sluice.BackupWriter) (sluice.BackupInfo, error)) (string, sluice.BackupInfo, error) {
	bucket, prefix, err := s3.ParsePrefix(url)
	if err != nil {
		return url, sluice.BackupInfo{}, err
	}
	url = "s3://" + bucket + "/" + prefix + backupPrefix + time.Now().UTC().Format(backupTime) + backupSuffix
	fmt.Fprintf(c.Stderr, "backup: to %s\n", url)
	pr, pw := io.Pipe()
	var info sluice.BackupInfo
	taken := make(chan struct{})
	go func() {
		defer close(taken)
		tw := backupfile.NewTar(pw)
		var err error
		info, err = take(progress{tw, c.Stderr, "backup"})
		if err == nil {
			err = tw.Close()
		}
		// nil: the upload reads io.EOF and completes; else it reads err
		// and aborts, even when err is io.EOF or io.ErrUnexpectedEOF
		// itself (which the upload would take for the stream's end).
		if err != nil {
			err = failed{err}
		}
		pw.CloseWithError(err)
	}()
	// take's error, when there is one, comes back in the upload's.
	_, err = s3.Upload(ctx, url, pr, "application/x-tar", o)
	pr.CloseWithError(err) // the upload stopped early: take's writes fail
	<-taken
	return url, info, err
}

// failed is an error of a backup that its stream passes on to the upload:
// never io.EOF.
type failed struct{ error }

func (f failed) Unwrap() error { return f.error }

// fromDir backs up the embedded store in dir, which no process has open,
// into to.
func (c *BackupCommand) fromDir(ctx context.Context, dir string, to sluice.BackupWriter) (sluice.BackupInfo, error) {
	if _, err := os.Stat(filepath.Join(dir, "sluice.db")); err != nil {
		return sluice.BackupInfo{}, fmt.Errorf("%s holds no store: %w", dir, err)
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Dir: dir, Release: thisRelease()})
	if err != nil {
		return sluice.BackupInfo{}, fmt.Errorf("%w (is sluice serving it? then use --server)", err)
	}
	info, err := s.Backup(ctx, to)
	return info, errors.Join(err, s.Close())
}

// fromServer has the sluice at url take the backup and hands its files to
// to; it fails unless the server's trailer says the stream was complete.
func (c *BackupCommand) fromServer(ctx context.Context, url, key string, to sluice.BackupWriter) (sluice.BackupInfo, error) {
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
	if _, _, err := backupfile.Extract(resp.Body, to); err != nil {
		return info, err
	}
	// The trailer comes after the body's end, which Extract may not have
	// read: the tar's end blocks come before it.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return info, fmt.Errorf("read backup stream: %w", err)
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
		return usageErrorf("restore: the backup comes first; see 'sluice help restore'")
	}
	src := args[0]
	fset := flag.NewFlagSet("restore", flag.ContinueOnError)
	data := fset.String("data", "", "")
	awsf := addAWSFlags(fset)
	if err := c.parseFlags(fset, args[1:], restoreUsage); err != nil {
		return err
	}
	if *data == "" || fset.NArg() > 0 {
		return usageErrorf("restore: SRC --data DIR; see 'sluice help restore'")
	}
	var copyTo func(sluice.BackupWriter) error
	if strings.HasPrefix(src, "s3://") {
		o, err := awsf.s3()
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		if copyTo, err = c.fromS3(ctx, src, o); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	} else {
		if _, err := os.Stat(filepath.Join(src, "sluice.db")); err != nil {
			return fmt.Errorf("restore: %s is not a backup: %w", src, err)
		}
		copyTo = func(to sluice.BackupWriter) error { return copyTree(src, to) }
	}
	d, err := backupfile.NewDir(*data)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	err = copyTo(progress{d, c.Stderr, "restore"})
	if err = errors.Join(err, d.Close()); err != nil {
		return fmt.Errorf("restore: %w", errors.Join(err, emptyDir(*data)))
	}
	s, err := sqlite.Open(ctx, sqlite.Options{Dir: *data, Release: thisRelease()})
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

// fromS3 returns the copy of the backup object at url, or of the newest
// one in the folder url when it ends with "/" or names only a bucket.
func (c *RestoreCommand) fromS3(ctx context.Context, url string, o s3.Options) (func(sluice.BackupWriter) error, error) {
	if _, _, err := s3.ParseURL(url); err != nil || strings.HasSuffix(url, "/") {
		names, err := s3.List(ctx, url, o)
		if err != nil {
			return nil, err
		}
		newest := ""
		for _, name := range names {
			if stamp, ok := strings.CutPrefix(name, backupPrefix); ok && strings.HasSuffix(stamp, backupSuffix) && name > newest {
				newest = name
			}
		}
		if newest == "" {
			return nil, fmt.Errorf("%s holds no backup (%s%s%s)", url, backupPrefix, backupTime, backupSuffix)
		}
		url = strings.TrimSuffix(url, "/") + "/" + newest
	}
	return func(to sluice.BackupWriter) error {
		body, size, err := s3.Get(ctx, url, o)
		if err != nil {
			return err
		}
		defer body.Close()
		fmt.Fprintf(c.Stderr, "restore: from %s (%d bytes)\n", url, size)
		_, _, err = backupfile.Extract(body, to)
		return err
	}, nil
}

// emptyDir removes what a failed restore wrote into dir, which was empty.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
	}
	return errors.Join(errs...)
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
