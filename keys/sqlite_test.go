package keys_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/opaque"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/sqlite"
)

func init() {
	testStores = append(testStores, struct {
		name string
		open func(t testing.TB) authkit.Store
	}{"sqlite", func(t testing.TB) authkit.Store { return openSQLite(t) }})
	benchStores = append(benchStores, struct {
		name string
		open func(b *testing.B) authkit.Store
	}{"sqlite", func(b *testing.B) authkit.Store { return openSQLite(b) }})
}

// openSQLite opens a fresh SQLite file in t's temporary directory, closed
// when t ends.
func openSQLite(t testing.TB) *sqlite.Store {
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dbFiles returns the raw bytes of the database file at path and of its
// -wal, -shm and -journal files, those that exist.
func dbFiles(t *testing.T, path string) []byte {
	t.Helper()
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, fs.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestSQLite_NoSecretInTheDatabaseFiles(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "a.db")
	store, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	f := newFixture(t, store)

	// Plain and recoverable keys, live and test, rotated and used.
	var secrets, hints []string
	for i, recoverable := range []bool{false, true, false, true} {
		env := authkit.EnvLive
		if i >= 2 {
			env = authkit.EnvTest
		}
		k, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "alice", Handle: fmt.Sprintf("handle-%d", i), Env: env, Recoverable: recoverable})
		secrets = append(secrets, secret)
		_, err := f.svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		k, fresh, err := f.svc.Rotate(ctx, "alice", k.ID, time.Hour)
		is.NoErr(err)
		secrets = append(secrets, fresh)
		hints = append(hints, k.Hint) // the current hint, the new secret's
		if recoverable {
			got, err := f.svc.Reveal(ctx, "alice", k.ID)
			is.NoErr(err)
			is.Equal(got, fresh) // the sealed secret is really there
		}
	}

	check := func(when string, raw []byte) {
		t.Helper()
		// The right files were read: what is not secret is there in clear.
		is.True(bytes.Contains(raw, []byte("handle-3")))
		for _, h := range hints {
			is.True(bytes.Contains(raw, []byte(h)))
		}
		for i, s := range secrets {
			prefix := s[:len("ak_live_")]
			random := s[len(prefix) : len(s)-opaque.ChecksumLen]
			if bytes.Contains(raw, []byte(s)) {
				t.Fatalf("%s: secret %d is in the database files", when, i)
			}
			if bytes.Contains(raw, []byte(random)) {
				t.Fatalf("%s: the random part of secret %d is in the database files", when, i)
			}
			// Beyond the hint's four characters, no 8 characters in a row.
			for j := 1; j+8 <= len(random); j++ {
				if bytes.Contains(raw, []byte(random[j:j+8])) {
					t.Fatalf("%s: characters %d-%d of secret %d are in the database files", when, j, j+8, i)
				}
			}
		}
	}
	check("open", dbFiles(t, path))
	is.NoErr(store.Close())
	check("closed", dbFiles(t, path))
}

func TestSQLite_KeysSurviveReopening(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "a.db")
	store, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	f := newFixture(t, store)
	k, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "alice", Handle: "h", Recoverable: true, Scopes: []string{"b", "a"}})
	is.NoErr(store.Close())

	store, err = sqlite.Open(ctx, path)
	is.NoErr(err)
	defer store.Close()
	svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(t), Clock: f.clock.Now})
	is.NoErr(err)
	got, err := svc.VerifyKey(ctx, secret)
	is.NoErr(err)
	is.Equal(got.ID, k.ID)
	is.Equal(got.Scopes, []string{"a", "b"})
	is.True(got.CreatedAt.Equal(k.CreatedAt))
	revealed, err := svc.Reveal(ctx, "alice", k.ID)
	is.NoErr(err)
	is.Equal(revealed, secret)
}
