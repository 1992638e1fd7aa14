package sessions_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

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

func BenchmarkLogin(b *testing.B) {
	f := newFx(b, openSQLite(b), 0)
	b.Run("new-session", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := f.m.Login(ctx, f.key, "s"+itoa(i)); err != nil {
				b.Fatal(err)
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
