package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backupfile"
)

var _ sluice.Backuper = (*Store)(nil)

// Backup writes a consistent copy of the store to to while it is in use:
// commits go on meanwhile, each waiting for nothing of the backup. The copy
// is a data directory as of one moment (every event committed before the
// backup began, maybe some after):
//
//   - ids.db, then sluice.db, each copied by VACUUM INTO from a read
//     transaction of its own (a snapshot; into a scratch directory inside
//     the data directory, removed after). ids.db first: its runs then hold
//     no id past the copied log's head, which the copy would take for a
//     duplicate; what it lacks, Open reads back from the log (D91).
//   - the segment files the copied index names, each up to the end of its
//     last indexed frame: segments are only appended to, so those bytes
//     are the frames the snapshot indexes. Trims wait for the backup
//     (trimMu); the filter (ids.filter) is left out and rebuilt at Open.
func (s *Store) Backup(ctx context.Context, to sluice.BackupWriter) (sluice.BackupInfo, error) {
	var info sluice.BackupInfo
	if err := s.checkOpen(); err != nil {
		return info, err
	}
	s.trimMu.Lock()
	defer s.trimMu.Unlock()
	tmp, err := os.MkdirTemp(s.dir, "backup-")
	if err != nil {
		return info, fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"ids.db", "sluice.db"} {
		if err := vacuumInto(ctx, filepath.Join(s.dir, name), filepath.Join(tmp, name)); err != nil {
			return info, fmt.Errorf("backup: copy %s: %w", name, err)
		}
	}
	ends, err := snapshotEnds(ctx, filepath.Join(tmp, "sluice.db"), &info)
	if err != nil {
		return info, fmt.Errorf("backup: read the copied index: %w", err)
	}
	for _, name := range []string{"ids.db", "sluice.db"} {
		size, err := backupfile.WriteFrom(to, name, filepath.Join(tmp, name))
		if err != nil {
			return info, fmt.Errorf("backup: %w", err)
		}
		info.Files, info.Bytes = info.Files+1, info.Bytes+size
	}
	for _, e := range ends {
		f := s.segs.file(e.segment)
		if f == nil {
			return info, fmt.Errorf("backup: segment file %s is missing", segmentName(e.segment))
		}
		name := "segments/" + segmentName(e.segment)
		if err := to.WriteFile(name, e.end, io.NewSectionReader(f, 0, e.end)); err != nil {
			return info, fmt.Errorf("backup: %s: %w", name, err)
		}
		info.Files, info.Bytes = info.Files+1, info.Bytes+e.end
	}
	return info, nil
}

// vacuumInto copies the database at src into a new file dst, from one read
// transaction.
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := sql.Open(driverName, dsn(src, false))
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", dst)
	return errors.Join(err, db.Close())
}

// segmentEnd is where the last frame a copied index names ends in one
// segment file.
type segmentEnd struct {
	segment sluice.Position
	end     int64
}

// snapshotEnds reads, from the copied index at path, the end of each
// segment's indexed frames and the log's first position and head.
func snapshotEnds(ctx context.Context, path string, info *sluice.BackupInfo) ([]segmentEnd, error) {
	db, err := sql.Open(driverName, dsn(path, true))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	err = db.QueryRowContext(ctx, "SELECT coalesce(min(first_position), 1), coalesce(max(last_position), 0) FROM chunks").Scan(&info.First, &info.Head)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "SELECT segment, max(file_offset + frame_length) FROM chunks GROUP BY segment ORDER BY segment")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ends []segmentEnd
	for rows.Next() {
		var e segmentEnd
		if err := rows.Scan(&e.segment, &e.end); err != nil {
			return nil, err
		}
		ends = append(ends, e)
	}
	return ends, rows.Err()
}

// file is the open segment file that starts at first, nil if none.
func (sg *segments) file(first sluice.Position) *os.File {
	sg.mu.RLock()
	defer sg.mu.RUnlock()
	return sg.files[first]
}
