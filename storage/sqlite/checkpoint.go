package sqlite

import (
	"context"
	"database/sql"
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

// checkpoint runs the two steps, through r then w. A failure (the file
// busy, say) is retried at the next tick, and the backstop bounds the WAL
// meanwhile.
func checkpoint(r, w *sql.DB) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err == nil {
		w.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
	}
}
