package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sluicehq/sluice"
)

// convertBatch is how many bytes of frames the conversion writes at once.
const convertBatch = 1 << 20

// convert moves the events of a log written before segment files, kept as
// blobs in SQLite (blob_chunks, which migration 006 made of the old chunks
// table), into segment files in dir. It is one transaction: it reads the
// blobs in position order, writes them as frames (the payload is the same
// chunk encoding), indexes them, and once the files and the directory are
// synced, drops blob_chunks and commits. Until then the segment files are
// scratch, so a crash in the middle starts the conversion over at the next
// Open. Nothing is held in memory but a batch of frames.
func (s *Store) convert(ctx context.Context, dir string, segmentSize int64) error {
	var tables, indexed int
	if err := s.wc.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'blob_chunks'").Scan(&tables); err != nil || tables == 0 {
		return err
	}
	if err := s.wc.QueryRowContext(ctx, "SELECT count(*) FROM chunks").Scan(&indexed); err != nil {
		return err
	}
	if indexed > 0 {
		return errors.New("convert the log to segment files: both the old chunks and the new index hold chunks")
	}
	start := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	segs, _, err := openSegments(dir, segmentSize)
	if err != nil {
		return err
	}
	var events sluice.Position
	err = s.inTx(ctx, func(tx *sql.Conn) error {
		var err error
		events, err = s.copyBlobs(ctx, tx, segs)
		if err != nil {
			return err
		}
		if err := segs.sync(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DROP TABLE blob_chunks")
		return err
	})
	if err = errors.Join(err, segs.close()); err != nil {
		return fmt.Errorf("convert the log to segment files: %w", err)
	}
	if events > 0 {
		s.log.Info("converted the log to segment files", "events", events, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// copyBlobs writes the chunks of blob_chunks to segs as frames and indexes
// them in tx, and returns how many events they hold.
func (s *Store) copyBlobs(ctx context.Context, tx *sql.Conn, segs *segments) (sluice.Position, error) {
	rows, err := tx.QueryContext(ctx, "SELECT first_position, last_position, events FROM blob_chunks ORDER BY last_position")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var buf []byte
	var refs []chunkRef
	var events sluice.Position
	flush := func() error {
		if len(refs) == 0 {
			return nil
		}
		segment, at, err := segs.write(buf, refs[0].first)
		if err != nil {
			return err
		}
		for i := range refs {
			refs[i].segment, refs[i].offset = segment, refs[i].offset+at
		}
		err = s.insertChunks(ctx, tx, refs)
		buf, refs = buf[:0], refs[:0]
		return err
	}
	for rows.Next() {
		var ref chunkRef
		var blob []byte
		if err := rows.Scan(&ref.first, &ref.last, &blob); err != nil {
			return 0, err
		}
		at := len(buf)
		buf = append(beginFrame(buf), blob...)
		endFrame(buf, at, ref.first)
		ref.offset, ref.length = int64(at), int64(len(buf)-at)
		refs = append(refs, ref)
		events += ref.last - ref.first + 1
		if len(buf) >= convertBatch {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return events, flush()
}
