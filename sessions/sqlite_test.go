package sessions_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/sqlite"
)

func openSQLite(t testing.TB) authkit.Store {
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "sessions.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func init() {
	stores = append(stores, struct {
		name string
		open func(t testing.TB) authkit.Store
	}{"sqlite", openSQLite})
}

// TestSQLiteFile_HoldsNoToken logs in and exchanges, then searches the raw
// database and WAL for every access and refresh token handed out.
func TestSQLiteFile_HoldsNoToken(t *testing.T) {
	is := is.New(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	s, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	f := newFx(t, s, 5*1e9)
	var secrets []string
	for _, name := range []string{"", "a", "b"} {
		g, err := f.m.Login(ctx, f.key, name)
		is.NoErr(err)
		secrets = append(secrets, g.AccessToken)
	}
	g, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
	is.NoErr(err)
	g2, err := f.m.Refresh(ctx, g.RefreshToken, 0)
	is.NoErr(err)
	secrets = append(secrets, g.AccessToken, g.RefreshToken, g2.AccessToken, g2.RefreshToken)
	f.tokens.Close()
	is.NoErr(s.Close())
	files, _ := filepath.Glob(path + "*")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		is.NoErr(err)
		for _, sec := range secrets {
			if bytes.Contains(raw, []byte(sec)) {
				t.Fatalf("%s holds a token", filepath.Base(file))
			}
		}
	}
}

// loginSeq numbers the session ids of BenchmarkLogin/new-session across
// every run of it, so that each iteration opens a session, whatever -count
// and however often the benchmark function is called.
var loginSeq atomic.Int64

// BenchmarkLogin measures the login flow on an SQLite file: a new session
// id each time (a token signed, a session row written), and the same one
// (the token handed back); BenchmarkExchange a key exchange (a token
// signed, a session and its first refresh token written in one
// transaction).
//
//	go test -run '^$' -bench 'Login|Exchange' -benchmem ./sessions
func BenchmarkLogin(b *testing.B) {
	f := newFx(b, openSQLite(b), 0)
	b.Run("new-session", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			g, err := f.m.Login(ctx, f.key, "s"+itoa(int(loginSeq.Add(1))))
			if err != nil {
				b.Fatal(err)
			}
			if g.Session.CreatedAt != f.clock.Now() {
				b.Fatal("a session reused: the benchmark measures the wrong thing")
			}
		}
	})
	b.Run("reuse", func(b *testing.B) {
		first, err := f.m.Login(ctx, f.key, "reuse")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			g, err := f.m.Login(ctx, f.key, "reuse")
			if err != nil || g.AccessToken != first.AccessToken {
				b.Fatal("not reused", err)
			}
		}
	})
}

func BenchmarkExchange(b *testing.B) {
	f := newFx(b, openSQLite(b), 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSQLite_BytesPerLoginSession opens 2,000 login sessions on a fresh
// SQLite file and reports what each costs on disk: the file's growth (the
// row and its index entries) and the sealed token it keeps.
func TestSQLite_BytesPerLoginSession(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "rows.db")
	store, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	f := newFx(t, store, 0)
	size := func() int64 {
		db, err := sql.Open("sqlite", "file:"+path)
		is.NoErr(err)
		defer db.Close()
		var pages, pageSize int64
		is.NoErr(db.QueryRow(`PRAGMA page_count`).Scan(&pages))
		is.NoErr(db.QueryRow(`PRAGMA page_size`).Scan(&pageSize))
		return pages * pageSize
	}
	const n = 2000
	for i := range 200 { // warm the file up: first pages of every table and index
		_, err := f.m.Login(ctx, f.key, "warm-"+itoa(i))
		is.NoErr(err)
	}
	before := size()
	for i := range n {
		_, err := f.m.Login(ctx, f.key, "w-"+itoa(i))
		is.NoErr(err)
	}
	after := size()
	db, err := sql.Open("sqlite", "file:"+path)
	is.NoErr(err)
	defer db.Close()
	var sealed float64
	is.NoErr(db.QueryRow(`SELECT avg(length(token_sealed)) FROM sessions`).Scan(&sealed))
	perRow := float64(after-before) / n
	t.Logf("a login session costs %.0f bytes of file (row and index entries), of which the sealed token %.0f", perRow, sealed)
	is.True(perRow < 1200) // was about 1,560 with a sealed copy of the claims and one more B-tree
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

// TestSQLiteFile_NoSealedPairWithoutAGrace: the next pair of a refresh is
// sealed into the spent row only while a grace window is on; without one,
// the raw file holds none, and with one, cleanup erases it once the window
// ends.
func TestSQLiteFile_NoSealedPairWithoutAGrace(t *testing.T) {
	for _, grace := range []time.Duration{0, 10 * time.Second} {
		t.Run(grace.String(), func(t *testing.T) {
			is := is.New(t)
			path := filepath.Join(t.TempDir(), "s.db")
			s, err := sqlite.Open(ctx, path)
			is.NoErr(err)
			defer s.Close()
			f := newFx(t, s, grace)
			g, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
			is.NoErr(err)
			_, err = f.m.Refresh(ctx, g.RefreshToken, 0)
			is.NoErr(err)
			sealedPairs := func() int {
				db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
				is.NoErr(err)
				defer db.Close()
				var n int
				is.NoErr(db.QueryRow(`SELECT COUNT(*) FROM refresh_tokens WHERE child_sealed IS NOT NULL AND length(child_sealed) > 0`).Scan(&n))
				return n
			}
			if grace == 0 {
				is.Equal(sealedPairs(), 0)
				return
			}
			is.Equal(sealedPairs(), 1) // kept for a replay inside the window
			_, err = s.Cleanup(ctx, f.clock.Now().Add(authkit.MaxRefreshGrace))
			is.NoErr(err)
			is.Equal(sealedPairs(), 0) // erased once the window can no longer matter
		})
	}
}
