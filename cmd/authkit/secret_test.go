package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/postgres"
	"github.com/authkit/authkit/storage/sqlite"
)

// TestSecret_RotateRewrapDrop rotates the server secret of an SQLite store
// with the command, as an operator would, while a server works on it.
func TestSecret_RotateRewrapDrop(t *testing.T) {
	s := newStore(t)
	rotateWithCommand(t, s, func() authkit.Store {
		st, err := sqlite.Open(context.Background(), s.db)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// TestPostgres_SecretRotateRewrapDrop is the same on PostgreSQL.
func TestPostgres_SecretRotateRewrapDrop(t *testing.T) {
	s := pgStore(t)
	s.ok(t, "", "migrate")
	rotateWithCommand(t, s, func() authkit.Store {
		st, err := postgres.Open(context.Background(), s.db, postgres.Config{Schema: s.schema, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// rotateWithCommand: rotate (the file gets a new first secret; the server
// restarts on the keyring), drop refused while values need the old one,
// rewrap, drop, while a server verifies and reveals keys made under the
// old secret without a failure; and then a server on the new secret alone
// does too.
func rotateWithCommand(t *testing.T, s *store, open func() authkit.Store) {
	is := is.New(t)
	file := filepath.Join(t.TempDir(), "authkit.secret")
	is.NoErr(os.WriteFile(file, []byte(testSecret+"\n"), 0o600))
	s.secret = "" // from the file from now on
	f := func(args ...string) []string { return append(args, "-secret-file", file) }
	var made []keyOut
	for i := range 20 {
		k, _ := s.createKey(t, "o", "h"+string(rune('a'+i)), "-recoverable", "-secret-file", file)
		made = append(made, k)
	}
	oldID := secretID(t, testSecret)

	var st struct {
		Secrets []secretUse `json:"secrets"`
		Needed  int         `json:"previous_needed_by"`
	}
	s.jsonOf(t, &st, f("secret", "status")...)
	is.Equal(st.Secrets[0].ID, oldID)
	is.Equal(st.Secrets[0].Role, "current")
	is.True(st.Secrets[0].Values >= 21) // the recoverable keys, the hash key
	is.Equal(st.Needed, 0)

	r := s.run(t, "", f("secret", "rotate")...)
	is.Equal(r.code, 0)
	b, err := os.ReadFile(file)
	is.NoErr(err)
	lines := strings.Fields(string(b))
	is.Equal(len(lines), 2)
	is.Equal(lines[1], testSecret) // the old one kept, after the new one
	fi, err := os.Stat(file)
	is.NoErr(err)
	is.Equal(fi.Mode().Perm(), os.FileMode(0o600))
	is.True(!strings.Contains(r.stdout+r.stderr, lines[0])) // never printed
	newID := secretID(t, lines[0])
	is.True(strings.Contains(r.stdout, newID))

	// A server restarted on the new keyring works on, under load, through
	// the refused drop, the rewrap and the drop.
	srv := keyServer(t, open(), file)
	var stop atomic.Bool
	var rounds atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range 3 {
		wg.Go(func() {
			for i := w; !stop.Load(); i++ {
				k := made[i%len(made)]
				if err := srv.check(k); err != nil {
					failed.Store(err)
					return
				}
				rounds.Add(1)
			}
		})
	}

	r = s.run(t, "", f("secret", "drop")...)
	is.Equal(r.code, 1) // refused: values still need the old secret
	is.True(strings.Contains(r.stderr, "refused"))
	b2, _ := os.ReadFile(file)
	is.Equal(string(b2), string(b)) // untouched

	var rw struct {
		Moved     int `json:"moved"`
		NotOpened int `json:"not_opened"`
	}
	s.jsonOf(t, &rw, f("secret", "rewrap")...)
	is.True(rw.Moved >= 21)
	is.Equal(rw.NotOpened, 0)
	s.jsonOf(t, &st, f("secret", "status")...)
	is.Equal(st.Needed, 0)
	is.Equal(st.Secrets[0].ID, newID)
	is.Equal(st.Secrets[1], secretUse{ID: oldID, Role: "previous", Values: 0})

	out := s.ok(t, "", f("secret", "drop")...)
	is.True(strings.Contains(out, "Dropped "+oldID))
	stop.Store(true)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("the server failed during the rotation: %v", err)
	}
	t.Logf("%d verifications and reveals during the rotation", rounds.Load())
	is.True(rounds.Load() > 0)
	b, err = os.ReadFile(file)
	is.NoErr(err)
	is.Equal(strings.Fields(string(b)), lines[:1])

	after := keyServer(t, open(), file) // the new secret alone
	for _, k := range made {
		is.NoErr(after.check(k))
	}

	var rotated, rewrapped bool
	for _, ev := range s.auditOf(t, "") {
		switch ev.Action {
		case authkit.AuditSecretRotated:
			rotated = ev.Target == newID && ev.Actor.Kind == authkit.ActorAdmin
		case authkit.AuditSecretRewrapped:
			rewrapped = ev.Target == newID && ev.Actor.Kind == authkit.ActorAdmin
		}
	}
	is.True(rotated)
	is.True(rewrapped)

	// A secret from the environment is the operator's to change.
	s.secret = testSecret
	r = s.run(t, "", "secret", "rotate")
	is.Equal(r.code, 2)
}

func secretID(t *testing.T, text string) string {
	s, err := authkit.NewSecret([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return s.ID()
}

// keyCheck is a server's key service, on the secret file as it is now.
type keyCheck struct{ ks *keys.Service }

func keyServer(t *testing.T, st authkit.Store, secretFile string) *keyCheck {
	t.Helper()
	secret, err := authkit.LoadSecret("", secretFile)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := keys.New(keys.Config{Store: st, Secret: secret, CacheTTL: -1, FlushEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close(); st.Close() })
	return &keyCheck{ks}
}

// check verifies k's secret (from the store, not a cache) and reveals it.
func (c *keyCheck) check(k keyOut) error {
	ctx := context.Background()
	got, err := c.ks.VerifyKey(ctx, k.Secret)
	if err != nil {
		return err
	}
	if got.ID != k.ID {
		return os.ErrInvalid
	}
	revealed, err := c.ks.Reveal(ctx, "o", k.ID)
	if err != nil {
		return err
	}
	if revealed != k.Secret {
		return os.ErrInvalid
	}
	return nil
}
