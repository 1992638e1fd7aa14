package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/sqlite"
)

// TestSecret_RotateRewrapDrop rotates the server secret of a store with the
// command, as an operator would: rotate (the file gets a new first
// secret), drop refused while values need the old one, rewrap, drop; a key
// made under the old secret works, and reveals, under the new one alone.
func TestSecret_RotateRewrapDrop(t *testing.T) {
	is := is.New(t)
	s := newStore(t)
	file := filepath.Join(t.TempDir(), "authkit.secret")
	is.NoErr(os.WriteFile(file, []byte(testSecret+"\n"), 0o600))
	s.secret = "" // from the file from now on
	f := func(args ...string) []string { return append(args, "-secret-file", file) }
	k, key := s.createKey(t, "o", "h", "-recoverable", "-secret-file", file)
	oldID := secretID(t, testSecret)

	var st struct {
		Secrets []secretUse `json:"secrets"`
		Needed  int         `json:"previous_needed_by"`
	}
	s.jsonOf(t, &st, f("secret", "status")...)
	is.Equal(st.Secrets[0].ID, oldID)
	is.Equal(st.Secrets[0].Role, "current")
	is.True(st.Secrets[0].Values >= 2) // the recoverable key, the hash key
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

	// A server on the new keyring: the key and its secret, before the rewrap.
	verifyAndReveal(t, s.db, file, k.ID, key)

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
	is.True(rw.Moved >= 2)
	is.Equal(rw.NotOpened, 0)
	s.jsonOf(t, &st, f("secret", "status")...)
	is.Equal(st.Needed, 0)
	is.Equal(st.Secrets[0].ID, newID)
	is.Equal(st.Secrets[1], secretUse{ID: oldID, Role: "previous", Values: 0})

	out := s.ok(t, "", f("secret", "drop")...)
	is.True(strings.Contains(out, "Dropped "+oldID))
	b, err = os.ReadFile(file)
	is.NoErr(err)
	is.Equal(strings.Fields(string(b)), lines[:1])
	verifyAndReveal(t, s.db, file, k.ID, key) // the new secret alone

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

// verifyAndReveal opens the store with the secret file as a server would
// and checks that the key verifies and reveals its secret.
func verifyAndReveal(t *testing.T, db, secretFile, id, key string) {
	t.Helper()
	is := is.New(t)
	ctx := context.Background()
	secret, err := authkit.LoadSecret("", secretFile)
	is.NoErr(err)
	st, err := sqlite.Open(ctx, db)
	is.NoErr(err)
	defer st.Close()
	ks, err := keys.New(keys.Config{Store: st, Secret: secret, FlushEvery: -1})
	is.NoErr(err)
	defer ks.Close()
	got, err := ks.VerifyKey(ctx, key)
	is.NoErr(err)
	is.Equal(got.ID, id)
	revealed, err := ks.Reveal(ctx, "o", id)
	is.NoErr(err)
	is.Equal(revealed, key)
}
