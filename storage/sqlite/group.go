package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Group commit of new sessions. A login or an exchange that opens a
// session writes one row, but its commit writes a WAL page for each B-tree
// the row touches (four, and a fifth for a grant's refresh token) and
// takes the write lock: the CPU of a commit, not of the row, is most of a
// new session's cost. So
// CreateSession calls that arrive while another one is committing wait for
// it, and the first of them then commits all that waited in one
// transaction, where the pages they share are written once. A call that
// finds no commit under way commits alone at once: no call ever waits for
// a timer, and a lone call costs what it did before.
//
// Every call still returns only once its row is committed. In the shared
// transaction each insert is its own statement: one that breaks a
// constraint (the unique index on live login sessions: ErrConflict) fails
// alone, as it would in autocommit, since SQLite backs out the statement
// and not the transaction. Any other failure (an I/O error, a full disk)
// fails the whole group, which is rolled back: a call that returns nil has
// its row, a call that fails has none.

// maxGroup bounds the rows of one group commit.
const maxGroup = 64

// pendingSession is one CreateSession waiting in a group.
type pendingSession struct {
	st   *sql.Stmt
	args []any
	err  error
	lead bool          // handed the lead: commit the group
	done chan struct{} // closed once committed, or handed the lead
}

// group queues the CreateSession calls that arrive during a commit.
type group struct {
	mu    sync.Mutex
	busy  bool // a commit is under way
	queue []*pendingSession
}

// createSession commits p, alone or with the calls that queued meanwhile.
func (s *Store) createSession(p *pendingSession) error {
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, p)
	if g.busy {
		g.mu.Unlock()
		<-p.done
		if !p.lead {
			return p.err
		}
		g.mu.Lock()
	}
	g.busy = true
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	s.commitGroup(batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		close(next.done)
	} else {
		g.busy = false
		g.queue = nil
	}
	g.mu.Unlock()
	for _, q := range batch {
		if q != p {
			close(q.done)
		}
	}
	return p.err
}

// commitGroup writes batch: one row in autocommit, several in one
// transaction.
func (s *Store) commitGroup(batch []*pendingSession) {
	ctx := context.Background()
	if len(batch) == 1 {
		p := batch[0]
		if _, err := p.st.ExecContext(ctx, p.args...); err != nil {
			p.err = fmt.Errorf("sqlite: create session: %w", mapErr(err))
		}
		return
	}
	fail := func(err error) {
		for _, p := range batch {
			p.err = fmt.Errorf("sqlite: create session: %w", err)
		}
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail(err)
		return
	}
	defer tx.Rollback()
	for _, p := range batch {
		if _, err := tx.StmtContext(ctx, p.st).ExecContext(ctx, p.args...); err != nil {
			var se *sqlite.Error
			if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
				fail(err) // the transaction may be gone: none of the group is written
				return
			}
			p.err = fmt.Errorf("sqlite: create session: %w", mapErr(err))
		}
	}
	if err := tx.Commit(); err != nil {
		fail(mapErr(err))
	}
}
