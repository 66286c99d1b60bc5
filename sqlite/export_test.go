package sqlite

// IDIndexStats is what the benchmarks report of the id index: the commits
// that waited for the flusher, the live runs in ids.db, and the filter's
// bytes.
func (s *Store) IDIndexStats() (stalls int64, runs, filterBytes int) {
	s.ids.mu.RLock()
	defer s.ids.mu.RUnlock()
	return s.ids.stalls.Load(), len(s.ids.db.runs), s.ids.filter.Load().Bytes()
}
