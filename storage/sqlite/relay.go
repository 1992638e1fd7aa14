package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/tick"
)

// Revocations made by another process on the same file (the admin command,
// a second server) reach this one through the revocation_log table: every
// write that publishes a revocation also appends it there, in its own
// transaction, and each Store polls the rows it has not seen.

// RelayEvery is how often a Store polls for other processes' revocations.
const RelayEvery = 200 * time.Millisecond

// relayKeep is how long a logged revocation is kept: far longer than any
// poll takes, so that a process never misses one.
const relayKeep = time.Hour

// deafAfter: a Store whose polls have failed for this long says it is not
// listening (authkit.NotifierHealth), and the caches read the store.
const deafAfter = 2 * time.Second

type relay struct {
	origin string       // this process's mark on the rows it writes
	last   int64        // the last row seen; only the poller touches it
	heard  time.Time    // the last successful poll; only the poller touches it
	ok     atomic.Bool  // whether heard is recent: listening
	since  atomic.Int64 // Unix ns: when ok last became true (ListeningSince)
	loop   *tick.Loop
}

// logRevocations appends a revocation of each of ids to the revocation log inside tx.
func (s *Store) logRevocations(ctx context.Context, tx *sql.Tx, kind authkit.RevocationKind, ids ...string) error {
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `INSERT INTO revocation_log (origin, kind, ref, at) VALUES (?, ?, ?, ?)`,
			s.relay.origin, string(kind), id, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: log revocation: %w", err)
		}
	}
	return nil
}

// startRelay marks the log's end and starts the poller.
func (s *Store) startRelay(ctx context.Context) error {
	b := make([]byte, 8)
	rand.Read(b)
	s.relay = &relay{origin: hex.EncodeToString(b)}
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM revocation_log`).Scan(&s.relay.last); err != nil {
		return fmt.Errorf("sqlite: revocation log: %w", err)
	}
	s.relay.heard = time.Now()
	s.relay.since.Store(s.relay.heard.UnixNano())
	s.relay.ok.Store(true)
	s.relay.loop = tick.Start(RelayEvery, s.pollRelay)
	return nil
}

// pollRelay polls once and says whether the Store still hears.
func (s *Store) pollRelay() {
	if s.pollOnce() == nil {
		s.relay.heard = time.Now()
	}
	ok := time.Since(s.relay.heard) < deafAfter
	if ok && !s.relay.ok.Load() { // hearing again, from now on
		s.relay.since.Store(time.Now().UnixNano())
	}
	s.relay.ok.Store(ok)
}

// pollOnce publishes the revocations other processes logged since the last
// poll.
func (s *Store) pollOnce() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rows, err := s.r.QueryContext(ctx, `SELECT id, origin, kind, ref FROM revocation_log WHERE id > ? ORDER BY id`, s.relay.last)
	if err != nil {
		return err
	}
	defer rows.Close()
	var heard []authkit.Revocation
	last := s.relay.last
	for rows.Next() {
		var id int64
		var origin, kind, ref string
		if err := rows.Scan(&id, &origin, &kind, &ref); err != nil {
			return err
		}
		last = id
		if origin != s.relay.origin {
			heard = append(heard, authkit.Revocation{Kind: authkit.RevocationKind(kind), ID: ref})
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	for _, r := range heard {
		s.Publish(r)
	}
	s.relay.last = last // only once all it read was published: a failed poll reads them again
	return nil
}

// ListeningSince implements authkit.NotifierHealth: when the polls for
// other processes' revocations last began to succeed (the Store's
// opening, or the end of a deaf spell); zero while the last success is
// more than two seconds old. Meanwhile the caches of verified keys and
// tokens read the store.
func (s *Store) ListeningSince() time.Time {
	if !s.relay.ok.Load() {
		return time.Time{}
	}
	return time.Unix(0, s.relay.since.Load())
}

func (s *Store) stopRelay() {
	if s.relay != nil {
		s.relay.loop.Stop()
	}
}
