package tokens_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/sqlite"
	"github.com/authkit/authkit/tokens"
	"github.com/matryer/is"
)

func openSQLite(t testing.TB) authkit.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Every eachBackend test also runs over a real SQLite file.
func init() { backends = append(backends, backend{"sqlite", openSQLite}) }

// TestRestart_NewServiceOnTheSameFileVerifiesOldTokens: signing keys live
// in the store, sealed, so a restarted process verifies what the old one
// signed, and signs with the same key.
func TestRestart_NewServiceOnTheSameFileVerifiesOldTokens(t *testing.T) {
	is := is.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "restart.db")
	store, err := sqlite.Open(ctx, path)
	is.NoErr(err)
	sec := newSecret(t)
	svc, err := tokens.New(ctx, tokens.Config{Store: store, Secret: sec})
	is.NoErr(err)
	k := &authkit.Key{ID: "k1", Owner: "o", Handle: "h", Env: authkit.EnvLive, Scopes: []string{"a"}, CreatedAt: start}
	is.NoErr(store.CreateKey(ctx, k, &authkit.KeySecret{Hash: []byte("01234567890123456789012345678901"), KeyID: "k1", CreatedAt: start}))
	sess := &authkit.Session{ID: "s1", Kind: authkit.SessionGrant, KeyID: "k1", Owner: "o", Scopes: []string{"a"}, CreatedAt: start, ExpiresAt: start.AddDate(10, 0, 0)}
	is.NoErr(store.CreateSession(ctx, sess, nil))
	tok, _, err := svc.Issue(ctx, authkit.TokenRequest{Key: k, SessionID: "s1"})
	is.NoErr(err)
	svc.Close()
	is.NoErr(store.Close())

	store, err = sqlite.Open(ctx, path)
	is.NoErr(err)
	defer store.Close()
	svc, err = tokens.New(ctx, tokens.Config{Store: store, Secret: sec})
	is.NoErr(err)
	defer svc.Close()
	c, err := verifyClaims(ctx, svc, tok)
	is.NoErr(err)
	is.Equal(c.SessionID, "s1")
	keys, err := store.SigningKeys(ctx)
	is.NoErr(err)
	is.Equal(len(keys), 1) // no second key was made at restart
}
