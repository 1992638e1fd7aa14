package sqlite

import (
	"strconv"
	"time"
)

// SetCheckpointEvery sets the interval of the checkpoints of the Stores
// opened next, for a test; the returned func restores it.
func SetCheckpointEvery(d time.Duration) (restore func()) {
	prev := checkpointEvery
	checkpointEvery = d
	return func() { checkpointEvery = prev }
}

// CapPages lets the file of s grow by at most n more pages (n < 0: no
// cap), as a full disk would, for a test: SQLite's max_page_count on the
// writer connection.
func CapPages(s *Store, n int) error {
	var pages int
	if err := s.w.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		return err
	}
	limit := pages + n
	if n < 0 {
		limit = 1 << 30
	}
	_, err := s.w.Exec(`PRAGMA max_page_count = ` + strconv.Itoa(limit))
	return err
}

// QueuedSessions returns how many CreateSession calls wait for a group
// commit of s, for a test.
func QueuedSessions(s *Store) int {
	s.group.mu.Lock()
	defer s.group.mu.Unlock()
	return len(s.group.queue)
}
