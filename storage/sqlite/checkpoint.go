package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Checkpoints copy the pages committed to the WAL into the database file.
// Left to itself, SQLite runs one inside the commit that takes the WAL past
// 1,000 pages: on the request path of whichever write committed it, and
// often, since each new session writes four or five pages. A Store instead
// checkpoints from a goroutine of its own every checkpointEvery, in two
// steps:
//
//   - PASSIVE on a reader connection: it waits for no reader and no
//     writer, and copies every page committed when it began, while the
//     writes go on;
//   - then PASSIVE on the writer connection, which holds off the writes
//     for as long as it takes to copy the few pages committed meanwhile.
//     With the whole WAL copied and no write under way, the next write
//     starts the WAL again from its beginning, so it stays short (a long
//     WAL makes every read look further for its pages).
//
// A commit runs a checkpoint itself only when the WAL passes walBackstop
// pages, if the goroutine falls behind. Fewer, larger checkpoints also
// copy less: a page written by many commits between two checkpoints is
// copied once.
var checkpointEvery = 500 * time.Millisecond

// walBackstop is the writer connection's wal_autocheckpoint: 64 MiB of
// 4 KiB pages.
const walBackstop = 16384

// checkpointer runs the checkpoints of one Store.
type checkpointer struct {
	halt chan struct{}
	done chan struct{}
	once sync.Once // Close may be called twice
}

func (c *checkpointer) start(r, w *sql.DB) {
	c.halt, c.done = make(chan struct{}), make(chan struct{})
	every := checkpointEvery
	go func() {
		defer close(c.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.halt:
				return
			case <-t.C:
				// A failure (the file busy, say) is retried at the next
				// tick, and the backstop bounds the WAL meanwhile.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if _, err := r.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err == nil {
					w.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
				}
				cancel()
			}
		}
	}()
}

// stop stops the checkpoints, if they started, and waits for the last.
func (c *checkpointer) stop() {
	if c.halt == nil {
		return
	}
	c.once.Do(func() { close(c.halt) })
	<-c.done
}
