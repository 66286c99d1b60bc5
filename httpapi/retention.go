package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/backupfile"
)

// WithStartAtFirst makes readers that ask for events retention has removed
// (GET /v1/events and /v1/events/live with a position, subscriptions
// behind the log's first position) go on from the first position, counted
// in sluice_retention_skipped_positions_total, instead of 410 gone.
func WithStartAtFirst() Option {
	return func(s *Server) {
		s.startAtFirst = true
		s.subs.StartAtFirst()
	}
}

// goneProblem is the answer to a read of positions retention removed.
func goneProblem(g *sluice.GoneError) *Problem {
	p := problemf(http.StatusGone, "gone", g.Error())
	first := uint64(g.First)
	p.FirstPosition = &first
	return p
}

// readFrom reads the log after after as GET /v1/events does: from the
// first position when the request gave no position (given false) or the
// server starts readers there, counting what a given position skipped.
// It returns the position the events follow.
func (s *Server) readFrom(ctx context.Context, after sluice.Position, given bool, f sluice.Filter, limit int) ([]sluice.Event, sluice.Position, error) {
	if given && !s.startAtFirst {
		evs, err := s.store.ReadLog(ctx, after, f, limit)
		return evs, after, err
	}
	evs, skipped, err := sluice.ReadLogFrom(ctx, s.store, after, f, limit)
	if given {
		s.metrics.skipped.WithLabelValues("http").Add(float64(skipped))
	}
	return evs, after + sluice.Position(skipped), err
}

// liveStart checks, before the live tail's answer begins, that it may start
// after after: a *Problem (410) when retention removed what follows and
// the server does not start readers at the first position.
func (s *Server) liveStart(ctx context.Context, after sluice.Position, given bool) error {
	rt, ok := s.store.(sluice.Retainer)
	if !given || s.startAtFirst || !ok {
		return nil
	}
	first, err := rt.FirstPosition(ctx)
	if err != nil {
		return err
	}
	return sluice.GoneBefore(after, first)
}

// retentionCollectors are the metrics of retention: the log's first
// position (when the store has retention) and the positions readers
// passed over.
func retentionCollectors(store sluice.Store, m *metrics, skippedBySubs func() uint64) []prometheus.Collector {
	cs := []prometheus.Collector{m.skipped,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sluice_retention_skipped_positions_subscriptions_total",
			Help: "Positions subscriptions passed over because retention had removed them (with retention.readers: start)."}, func() float64 {
			return float64(skippedBySubs())
		})}
	if rt, ok := store.(sluice.Retainer); ok {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_log_first_position", Help: "The first position the log holds (retention moves it)."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			first, _ := rt.FirstPosition(ctx)
			return float64(first)
		}))
	}
	return cs
}

// backup is POST /v1/admin/backup: a consistent copy of the running store,
// taken while ingest goes on, streamed as a tar of the data directory's
// files (sluice backup --server unpacks it). The Sluice-Backup trailer
// carries the copy's BackupInfo as JSON once every file is written: a
// stream without it is incomplete. A store that cannot copy itself
// (PostgreSQL: pg_dump, docs/operations.md) answers 501.
func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	b, ok := s.store.(sluice.Backuper)
	if !ok {
		writeProblem(w, problemf(http.StatusNotImplemented, "backup_unsupported", "this store is backed up with its own tools (PostgreSQL: pg_dump or point-in-time recovery; see docs/operations.md)"))
		return
	}
	w.Header().Set("Trailer", backupTrailer)
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Cache-Control", "no-store")
	tw := backupfile.NewTar(w)
	info, err := b.Backup(r.Context(), tw)
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		// The answer has begun: without the trailer the client knows the
		// copy is incomplete.
		if !errors.Is(err, context.Canceled) {
			s.log.Error("backup failed", "err", err)
		}
		return
	}
	j, _ := json.Marshal(info)
	w.Header().Set(backupTrailer, string(j))
	s.log.Info("backup taken", "head", info.Head, "files", info.Files, "bytes", info.Bytes)
}

// backupTrailer is the trailer of POST /v1/admin/backup's answer.
const backupTrailer = "Sluice-Backup"
