package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/sqlite"
	"github.com/authkit/authkit/storage/storagetest"
)

func newStore(t *testing.T) authkit.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "authkit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) { storagetest.Run(t, newStore) }

func TestConcurrency(t *testing.T) { storagetest.RunConcurrency(t, newStore) }

// TestOpen_MigratesAFileFromAnOlderVersion builds a database as version 1
// left it (only migration 0001 recorded, data in it), then opens it.
func TestOpen_MigratesAFileFromAnOlderVersion(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	is.NoErr(err)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	is.NoErr(err)
	_, err = db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`)
	is.NoErr(err)
	_, err = db.Exec(string(v1))
	is.NoErr(err)
	_, err = db.Exec(`INSERT INTO schema_migrations VALUES (1, 0)`)
	is.NoErr(err)
	_, err = db.Exec(`INSERT INTO keys (id, owner, handle, env, created_at) VALUES ('k1', 'alice', 'old', 'live', 1)`)
	is.NoErr(err)
	is.NoErr(db.Close())

	s, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	k, err := s.KeyByHandle(ctx, "alice", "old")
	is.NoErr(err)
	is.Equal(k.ID, "k1")
	is.NoErr(s.Close())

	db, err = sql.Open("sqlite", "file:"+path)
	is.NoErr(err)
	defer db.Close()
	var versions, idx int
	is.NoErr(db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&versions))
	files, _ := filepath.Glob("migrations/*.sql")
	is.Equal(versions, len(files)) // every migration applied
	is.NoErr(db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'key_secrets_expires'`).Scan(&idx))
	is.Equal(idx, 1)
}

func TestOpen_ReopenKeepsData(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	k, sec := storagetest.NewKey("alice", "keep")
	is.NoErr(s.CreateKey(ctx, k, sec))
	is.NoErr(s.Close())
	s, err = sqlite.Open(ctx, path)
	is.NoErr(err)
	defer s.Close()
	got, _, err := s.KeyBySecret(ctx, sec.Hash)
	is.NoErr(err)
	is.Equal(got.ID, k.ID)
	var mode string
	db, _ := sql.Open("sqlite", "file:"+path)
	defer db.Close()
	is.NoErr(db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	is.Equal(mode, "wal")
}

func BenchmarkKeyBySecret(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	k, sec := storagetest.NewKey("alice", "bench")
	if err := s.CreateKey(ctx, k, sec); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.KeyBySecret(ctx, sec.Hash); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOpen_NewFilesAreForTheOwnerOnly: the database and its WAL and
// shared-memory files are created 0600.
func TestOpen_NewFilesAreForTheOwnerOnly(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := sqlite.Open(context.Background(), path)
	is.NoErr(err)
	defer s.Close()
	k, sec := storagetest.NewKey("alice", "ci")
	is.NoErr(s.CreateKey(context.Background(), k, sec)) // a write, so the WAL exists
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		is.NoErr(err)
		is.Equal(fi.Mode().Perm(), os.FileMode(0o600))
	}
}

// TestRelay_AnotherProcessRevocationIsHeard opens the file twice, as two
// processes would (each Store is its own origin), and checks that what one
// revokes reaches the other's subscribers, and not its own twice.
func TestRelay_AnotherProcessRevocationIsHeard(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	a, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	defer a.Close()
	opening := time.Now()
	b, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	defer b.Close()
	since := b.ListeningSince() // since it opened, without a gap
	is.True(!since.Before(opening) && !since.After(time.Now()))

	heardB := make(chan authkit.Revocation, 10)
	defer b.Subscribe(func(r authkit.Revocation) { heardB <- r })()
	var heardA []authkit.Revocation
	defer a.Subscribe(func(r authkit.Revocation) { heardA = append(heardA, r) })()

	now := time.Now().UTC()
	k := &authkit.Key{ID: "k1", Owner: "alice", Handle: "h", Env: authkit.EnvLive, Scopes: []string{}, CreatedAt: now}
	is.NoErr(a.CreateKey(ctx, k, &authkit.KeySecret{Hash: make([]byte, 32), KeyID: "k1", CreatedAt: now}))
	is.NoErr(a.RevokeKey(ctx, "alice", "k1", now))
	is.True(a.RevokeSigningKey(ctx, "nope", now) != nil) // not found: nothing logged

	start := time.Now()
	select {
	case r := <-heardB:
		is.Equal(r, authkit.Revocation{Kind: authkit.RevokedKey, ID: "k1"})
		t.Logf("heard by the other store after %v", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("the other store never heard the revocation")
	}
	time.Sleep(2 * sqlite.RelayEvery)
	is.Equal(len(heardB), 0)                                                     // once
	is.Equal(heardA, []authkit.Revocation{{Kind: authkit.RevokedKey, ID: "k1"}}) // its own, once, in process
}

// writeSessions writes n sessions of one key, each with a sealed token the
// size of a login's, about eight WAL pages each.
func writeSessions(t *testing.T, s authkit.Store, n int) {
	t.Helper()
	k, _ := storagetest.NewKey("alice", "app")
	for i := range n {
		sess := storagetest.NewSession(k, authkit.SessionLogin, fmt.Sprint("s", i))
		sess.TokenSealed = make([]byte, 560)
		if err := s.CreateSession(context.Background(), sess, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestCheckpoints_NotOnTheCommitPath: the thousands of WAL pages of 300 new
// sessions are not copied into the database file by the commits that
// wrote them (SQLite's own default would have, at 1,000 pages), but by
// the Store's own checkpoints, within moments of their writing.
func TestCheckpoints_NotOnTheCommitPath(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "authkit.db")

	restore := sqlite.SetCheckpointEvery(time.Hour) // none in this test's time
	s, err := sqlite.Open(context.Background(), path)
	restore()
	is.NoErr(err)
	opened := fileSize(t, path)
	writeSessions(t, s, 300)
	is.True(fileSize(t, path+"-wal") > 1000*4096) // past SQLite's default
	is.Equal(fileSize(t, path), opened)           // no commit copied a page
	is.NoErr(s.Close())

	restore = sqlite.SetCheckpointEvery(20 * time.Millisecond)
	s, err = sqlite.Open(context.Background(), path)
	restore()
	is.NoErr(err)
	defer s.Close()
	opened = fileSize(t, path)
	writeSessions(t, s, 300)
	deadline := time.Now().Add(3 * time.Second)
	for fileSize(t, path) < opened+300*560 {
		if time.Now().After(deadline) {
			t.Fatal("the sessions were not checkpointed within 3 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// walCommits counts the commits in the WAL at path (frames whose header
// records the database's size after a commit).
func walCommits(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	const header, frameHeader, page = 32, 24, 4096
	n := 0
	for off := header; off+frameHeader+page <= len(b); off += frameHeader + page {
		if binary.BigEndian.Uint32(b[off+4:]) != 0 {
			n++
		}
	}
	return n
}

// TestCreateSession_ConcurrentCallsShareCommits: 200 sessions created at
// once take five commits (the first call alone, then the 199 that queued
// behind it, at most 64 to a commit); of 40 of them opening the same login
// name, one wins and 39 get ErrConflict, and every other one is written.
func TestCreateSession_ConcurrentCallsShareCommits(t *testing.T) {
	is := is.New(t)
	defer sqlite.SetCheckpointEvery(time.Hour)() // keep the WAL's commits to count
	s, raw, path := openWithRaw(t)
	before := walCommits(t, path)
	k, _ := storagetest.NewKey("alice", "app")
	errs := make([]error, 200)
	inQueue(t, s, raw, len(errs), func(i int) {
		name := fmt.Sprint("s", i)
		if i%5 == 0 {
			name = "shared"
		}
		errs[i] = s.CreateSession(context.Background(), storagetest.NewSession(k, authkit.SessionLogin, name), nil)
	})
	won, lost := 0, 0
	for i, err := range errs {
		switch {
		case err == nil && i%5 == 0:
			won++
		case i%5 == 0:
			is.True(errors.Is(err, authkit.ErrConflict))
			lost++
		default:
			is.NoErr(err)
		}
	}
	is.Equal(won, 1)
	is.Equal(lost, 39)
	list, err := s.ListSessions(context.Background(), "alice", authkit.Page{Limit: 500})
	is.NoErr(err)
	is.Equal(len(list), 161)
	is.Equal(walCommits(t, path)-before, 1+4) // 1, then 64, 64, 64 and 7
}

// TestCreateSession_AnInsertBreakingAConstraintFailsAlone: of 100
// sessions committed in groups, the ten that a trigger refuses fail, and
// the 90 committed with them are written.
func TestCreateSession_AnInsertBreakingAConstraintFailsAlone(t *testing.T) {
	is := is.New(t)
	s, raw, _ := openWithRaw(t)
	_, err := raw.Exec(`CREATE TRIGGER boom BEFORE INSERT ON sessions WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`)
	is.NoErr(err)

	k, _ := storagetest.NewKey("alice", "app")
	sessions := make([]*authkit.Session, 100)
	errs := make([]error, len(sessions))
	for i := range sessions {
		name := fmt.Sprint("s", i)
		if i%10 == 5 {
			name = "boom"
		}
		sessions[i] = storagetest.NewSession(k, authkit.SessionLogin, name)
	}
	inQueue(t, s, raw, len(sessions), func(i int) { errs[i] = s.CreateSession(context.Background(), sessions[i], nil) })
	for i, sess := range sessions {
		_, err := s.Session(context.Background(), sess.ID)
		if sess.Name == "boom" {
			is.True(errs[i] != nil)
			is.True(!errors.Is(errs[i], authkit.ErrConflict))
			is.True(errors.Is(err, authkit.ErrNotFound))
		} else {
			is.NoErr(errs[i])
			is.NoErr(err)
		}
	}
}

// TestCreateSession_AFullDiskFailsTheWholeGroup: when a group's
// transaction fails (here the file may not grow), every call of the group
// fails and none of its rows is written: a call that returned nil has its
// row, a call that failed has none.
func TestCreateSession_AFullDiskFailsTheWholeGroup(t *testing.T) {
	is := is.New(t)
	s, raw, _ := openWithRaw(t)
	is.NoErr(sqlite.CapPages(s, 0)) // no page more than it has
	k, _ := storagetest.NewKey("alice", "app")
	sessions := make([]*authkit.Session, 100)
	errs := make([]error, len(sessions))
	for i := range sessions {
		sessions[i] = storagetest.NewSession(k, authkit.SessionLogin, fmt.Sprint("s", i))
		sessions[i].TokenSealed = make([]byte, 560)
	}
	inQueue(t, s, raw, len(sessions), func(i int) { errs[i] = s.CreateSession(context.Background(), sessions[i], nil) })
	is.NoErr(sqlite.CapPages(s, -1))
	failed := 0
	for i, sess := range sessions {
		_, err := s.Session(context.Background(), sess.ID)
		if errs[i] != nil {
			failed++
			is.True(errors.Is(err, authkit.ErrNotFound)) // failed: not written
		} else {
			is.NoErr(err) // acknowledged: written
		}
	}
	t.Logf("%d of 100 failed", failed)
	is.True(failed > 50) // 100 rows of 560 bytes need pages the file may not take
}

// inQueue runs call(0) … call(n-1), each in a goroutine of its own, while
// raw holds the write lock, and lets it go only once every call but the
// first (which waits for the lock in its commit) is queued for a group
// commit of s: so the groups form whatever the scheduler does. It returns
// once every call has.
func inQueue(t *testing.T, s *sqlite.Store, raw *sql.DB, n int, call func(i int)) {
	t.Helper()
	ctx := context.Background()
	lock, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { call(i) })
	}
	for deadline := time.Now().Add(10 * time.Second); sqlite.QueuedSessions(s) < n-1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			lock.ExecContext(ctx, `ROLLBACK`)
			wg.Wait()
			t.Fatalf("%d calls queued of %d", sqlite.QueuedSessions(s), n-1)
		}
	}
	if _, err := lock.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// TestCheckpoints_KeepTheWALShortUnderSteadyWrites: while sessions are
// written and read without a pause, the WAL still starts again from its
// beginning after the checkpoints, so its file stays a fraction of what
// was written through it (without the checkpoints' second step it grows
// to the 64 MiB backstop).
func TestCheckpoints_KeepTheWALShortUnderSteadyWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: writes 8,000 sessions")
	}
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "authkit.db")
	restore := sqlite.SetCheckpointEvery(20 * time.Millisecond)
	s, err := sqlite.Open(context.Background(), path)
	restore()
	is.NoErr(err)
	defer s.Close()
	k, _ := storagetest.NewKey("alice", "app")
	first := storagetest.NewSession(k, authkit.SessionGrant, "first")
	is.NoErr(s.CreateSession(context.Background(), first, nil))

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
					if _, err := s.Session(context.Background(), first.ID); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 2000 {
				sess := storagetest.NewSession(k, authkit.SessionGrant, fmt.Sprint(w, "-", i))
				sess.TokenSealed = make([]byte, 560)
				if err := s.CreateSession(context.Background(), sess, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	wal := fileSize(t, path+"-wal")
	t.Logf("8,000 sessions written; the WAL file is %.1f MiB", float64(wal)/(1<<20))
	is.True(wal < 24<<20)
}

// TestCleanup_WalksEverySessionByRowid: cleanup finds expired sessions
// without an index on expiry, by ranges of rowid, wherever they sit in the
// table: here rows far apart, past several ranges, one of them live.
func TestCleanup_WalksEverySessionByRowid(t *testing.T) {
	is := is.New(t)
	s, db, _ := openWithRaw(t)
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []struct {
		rowid   int64
		expires time.Time
	}{
		{5, now.Add(-time.Hour)},
		{15_000, now.Add(-time.Minute)},
		{25_000, now.Add(time.Hour)}, // live
		{35_001, now},
	} {
		_, err := db.Exec(`INSERT INTO sessions (rowid, id, kind, key_id, owner, created_at, expires_at) VALUES (?, ?, 'grant', 'k', 'alice', 1, ?)`,
			r.rowid, fmt.Sprint("s-", r.rowid), r.expires.UnixMicro())
		is.NoErr(err)
	}
	n, err := s.Cleanup(context.Background(), now)
	is.NoErr(err)
	is.Equal(n, 3)
	var left []string
	rows, err := db.Query(`SELECT id FROM sessions`)
	is.NoErr(err)
	for rows.Next() {
		var id string
		is.NoErr(rows.Scan(&id))
		left = append(left, id)
	}
	is.NoErr(rows.Err())
	is.Equal(left, []string{"s-25000"})
}

// openWithRaw opens a Store on a fresh file, and a connection of the
// test's own to the same file, for what the Store's API cannot do; and
// returns the file's path.
func openWithRaw(t *testing.T) (*sqlite.Store, *sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authkit.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db, path
}
