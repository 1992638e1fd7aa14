package keys_test

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/fakeclock"
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

// TestSQLite_AKeyIsFreshLongerWhileTheStoreVouches: an SQLite store hears
// every change (its own at once, other processes' through the revocation
// log) since it opened (authkit.NotifierHealth.ListeningSince), so a key
// read after that stays fresh ten times CacheTTL: a change made behind the
// store's back (a raw write, which publishes nothing) is seen only then.
// A service whose clock puts the read before the store began listening
// gets the plain CacheTTL: it reads the key again past a minute.
func TestSQLite_AKeyIsFreshLongerWhileTheStoreVouches(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "a.db")
	store, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	defer store.Close()
	now := time.Now()
	ahead := fakeclock.New(now)
	vouched := keys.Config{Store: store, Secret: testSecret(t), Clock: ahead.Now}
	behind := fakeclock.New(now.Add(-time.Hour)) // reads "before" the store listened
	plain := keys.Config{Store: store, Secret: testSecret(t), Clock: behind.Now}
	a, err := keys.New(vouched)
	is.NoErr(err)
	defer a.Close()
	b, err := keys.New(plain)
	is.NoErr(err)
	defer b.Close()
	k, secret, err := a.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "h"})
	is.NoErr(err)
	_, err = a.VerifyKey(ctx, secret)
	is.NoErr(err)
	_, err = b.VerifyKey(ctx, secret)
	is.NoErr(err)

	raw, err := sql.Open("sqlite", path)
	is.NoErr(err)
	defer raw.Close()
	_, err = raw.Exec(`UPDATE keys SET disabled = 1 WHERE id = ?`, k.ID) // unpublished
	is.NoErr(err)

	ahead.Advance(2 * time.Minute)
	behind.Advance(2 * time.Minute)
	_, err = a.VerifyKey(ctx, secret) // fresh still: not read again
	is.NoErr(err)
	refusedWithin(t, b, secret, 5*time.Second) // past its TTL: read again, and refused

	ahead.Advance(9 * time.Minute) // past ten times the TTL
	refusedWithin(t, a, secret, 5*time.Second)
}

// refusedWithin verifies secret with svc until it is refused as disabled.
func refusedWithin(t *testing.T, svc *keys.Service, secret string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_, err := svc.VerifyKey(ctx, secret)
		if errors.Is(err, authkit.ErrDisabled) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v after %s", err, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
