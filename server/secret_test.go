package server_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/internal/opaque"
	"github.com/authkit/authkit/internal/seal"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/storage/postgres"
)

func ringOf(t testing.TB, current string, previous ...string) *authkit.Secret {
	t.Helper()
	var prev [][]byte
	for _, p := range previous {
		prev = append(prev, []byte(p))
	}
	s, err := authkit.NewSecret([]byte(current), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const (
	oldSecret = "the-old-server-secret-0123456789abcdef"
	newSecret = "the-new-server-secret-0123456789abcdef"
)

// TestSecretRotation_UnderLoad rotates the server secret of a live store:
// a server on the old secret makes every kind of record, a server on the
// keyring (new, old) takes over and serves a steady load while it rewraps,
// and a server on the new secret alone then serves all of it: keys (plain
// and recoverable), login sessions (the same token handed back), refresh
// families (with a sealed pair in its grace), and the signing key.
func TestSecretRotation_UnderLoad(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		rotateUnderLoad(t, func() authkit.Store { return openSQLite(t, filepath.Join(t.TempDir(), "rotate.db")) })
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := os.Getenv("AUTHKIT_TEST_POSTGRES")
		if dsn == "" {
			t.Skip("AUTHKIT_TEST_POSTGRES is not set: no PostgreSQL to rotate on")
		}
		if testing.Short() {
			t.Skip("PostgreSQL: skipped under -short")
		}
		schema := "authkit_rotate_" + uuid.NewString()[:8]
		t.Cleanup(func() {
			if c, err := pgx.Connect(ctx, dsn); err == nil {
				c.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
				c.Close(ctx)
			}
		})
		rotateUnderLoad(t, func() authkit.Store {
			s, err := postgres.Open(ctx, dsn, postgres.Config{Schema: schema, MaxConns: 8})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

func rotateUnderLoad(t *testing.T, open func() authkit.Store) {
	is := is.New(t)
	build := func(store authkit.Store, secret *authkit.Secret) *server.Server {
		s, err := server.New(ctx, server.Config{Store: store, Secret: secret, RefreshGrace: 10 * time.Second,
			CleanupEvery: -1, RotateEvery: -1, RewrapEvery: -1, Logger: quiet()})
		is.NoErr(err)
		t.Cleanup(func() { s.Close() })
		return s
	}

	// Before: the old secret alone makes everything.
	store := open()
	a := build(store, ringOf(t, oldSecret))
	const n = 50
	type key struct{ id, secret string }
	var plain, recoverable []key
	for i := range n {
		k, sk, err := a.Keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: fmt.Sprintf("p%d", i)})
		is.NoErr(err)
		plain = append(plain, key{k.ID, sk})
		k, sk, err = a.Keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: fmt.Sprintf("r%d", i), Recoverable: true})
		is.NoErr(err)
		recoverable = append(recoverable, key{k.ID, sk})
	}
	k0, err := a.Keys.VerifyKey(ctx, plain[0].secret)
	is.NoErr(err)
	login, err := a.Sessions.Login(ctx, k0, "worker-1")
	is.NoErr(err)
	grant, err := a.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k0})
	is.NoErr(err)
	spent := grant.RefreshToken
	grant, err = a.Sessions.Refresh(ctx, spent, 0) // leaves a sealed pair, for a replay in its grace
	is.NoErr(err)
	before, err := a.SealedBy(ctx)
	is.NoErr(err)
	oldID, newID := ringOf(t, oldSecret).ID(), ringOf(t, newSecret).ID()
	is.True(before[oldID] >= n+3) // recoverable keys, login token, pair, signing key, hash keys
	is.Equal(before[newID], 0)
	a.Close()

	// During: the keyring takes over, serves, and rewraps under load.
	b := build(store, ringOf(t, newSecret, oldSecret))
	var (
		wg       sync.WaitGroup
		stop     atomic.Bool
		requests atomic.Int64
		failures = make(chan error, 100)
	)
	fail := func(err error) {
		select {
		case failures <- err:
		default:
		}
	}
	load := func(srv *server.Server, i int) {
		p, r := plain[i%n], recoverable[i%n]
		if _, err := srv.Keys.VerifyKey(ctx, p.secret); err != nil {
			fail(fmt.Errorf("verify plain key: %w", err))
		}
		if _, err := srv.Keys.VerifyKey(ctx, r.secret); err != nil {
			fail(fmt.Errorf("verify recoverable key: %w", err))
		}
		if got, err := srv.Keys.Reveal(ctx, "alice", r.id); err != nil || got != r.secret {
			fail(fmt.Errorf("reveal: %v", err))
		}
		if g, err := srv.Sessions.Login(ctx, k0, "worker-1"); err != nil || g.AccessToken != login.AccessToken {
			fail(fmt.Errorf("login reuse: same token %v, %v", err == nil && g.AccessToken == login.AccessToken, err))
		}
		if _, err := srv.Tokens.Verify(ctx, login.AccessToken); err != nil {
			fail(fmt.Errorf("verify token: %w", err))
		}
		requests.Add(1)
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i += 4 {
				load(b, i)
			}
		}()
	}
	// A refresh family goes on through the rotation, one refresh at a time;
	// the pair sealed under the old secret answers a replay in its grace.
	replayed, err := b.Sessions.Refresh(ctx, spent, 0)
	is.NoErr(err)
	is.Equal(replayed.RefreshToken, grant.RefreshToken)
	grant, err = b.Sessions.Refresh(ctx, grant.RefreshToken, 0)
	is.NoErr(err)

	time.Sleep(100 * time.Millisecond)
	moved, stuck, err := b.Rewrap(ctx)
	is.NoErr(err)
	is.Equal(stuck, 0)
	is.True(moved >= n+3)
	grant, err = b.Sessions.Refresh(ctx, grant.RefreshToken, 0)
	is.NoErr(err)
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(failures)
	for err := range failures {
		t.Error("during the rewrap:", err)
	}
	t.Logf("%d rounds of requests during the rewrap; %d values moved", requests.Load(), moved)
	after, err := b.SealedBy(ctx)
	is.NoErr(err)
	is.Equal(after[oldID], 0)
	is.Equal(after[""], 0)
	is.True(after[newID] >= n+3)
	again, _, err := b.Rewrap(ctx)
	is.NoErr(err)
	is.Equal(again, 0) // nothing left to move
	b.Close()

	// After: the new secret alone serves everything the old one made.
	c := build(store, ringOf(t, newSecret))
	for i := range n {
		load(c, i)
	}
	_, err = c.Sessions.Refresh(ctx, grant.RefreshToken, 0)
	is.NoErr(err)
	jwks, err := c.Tokens.JWKS(ctx)
	is.NoErr(err)
	is.True(len(jwks) > 0)

	// And the old secret alone no longer opens anything: it was not needed.
	_, err = seal.NewSealer(ringOf(t, oldSecret), seal.PurposeHashKeys).Open(mustHashKey(t, store), []byte("authkit/keys/hash"))
	is.True(errors.Is(err, seal.ErrOpen))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustHashKey(t *testing.T, s authkit.Store) []byte {
	k, err := s.HashKey(context.Background(), "authkit/keys/hash")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSecretRotation_AStoreFromBeforeTheKeyring: a store whose hashes were
// keyed and whose values were sealed straight from the one secret, as
// authkit did before the keyring, keeps working, and a rewrap moves its
// values to the new secret.
func TestSecretRotation_AStoreFromBeforeTheKeyring(t *testing.T) {
	is := is.New(t)
	store := openSQLite(t, filepath.Join(t.TempDir(), "old.db"))
	old := ringOf(t, oldSecret)
	// A recoverable key as the old code wrote it.
	secret := opaque.New("ak_live_")
	gcm := func(key []byte) cipher.AEAD {
		b, _ := aes.NewCipher(key)
		a, _ := cipher.NewGCM(b)
		return a
	}
	id := uuid.NewString()
	nonce := make([]byte, 12)
	rand.Read(nonce)
	sealed := gcm(old.Derive("authkit/keys/seal")).Seal(append([]byte(nil), nonce...), nonce, []byte(secret), []byte(id))
	is.NoErr(store.CreateKey(ctx, &authkit.Key{ID: id, Owner: "alice", Handle: "old", Env: authkit.EnvLive, Scopes: []string{},
		Hint: secret[:12], Recoverable: true, CreatedAt: time.Now().UTC()},
		&authkit.KeySecret{Hash: seal.NewHasher(old.Derive("authkit/keys/hash")).Sum(secret), KeyID: id, Sealed: sealed, CreatedAt: time.Now().UTC()}))

	a, err := server.New(ctx, server.Config{Store: store, Secret: ringOf(t, newSecret, oldSecret), CleanupEvery: -1, RotateEvery: -1, RewrapEvery: -1, Logger: quiet()})
	is.NoErr(err)
	defer a.Close()
	k, err := a.Keys.VerifyKey(ctx, secret)
	is.NoErr(err) // the hash key is the one the old code derived
	is.Equal(k.ID, id)
	got, err := a.Keys.Reveal(ctx, "alice", id)
	is.NoErr(err)
	is.Equal(got, secret)
	by, err := a.SealedBy(ctx)
	is.NoErr(err)
	is.Equal(by[""], 1) // the old format names no secret
	_, stuck, err := a.Rewrap(ctx)
	is.NoErr(err)
	is.Equal(stuck, 0)
	by, err = a.SealedBy(ctx)
	is.NoErr(err)
	is.Equal(by[""], 0)
	got, err = a.Keys.Reveal(ctx, "alice", id)
	is.NoErr(err)
	is.Equal(got, secret)
}

// TestHousekeeping_RewrapRunsByItselfAfterAPeriod: with previous secrets in
// the keyring, the housekeeping moves their values to the current secret,
// not at start (a rolling restart may still be under way) but one
// RewrapEvery later, and audits it.
func TestHousekeeping_RewrapRunsByItselfAfterAPeriod(t *testing.T) {
	defer server.SetPoll(5 * time.Millisecond)()
	is := is.New(t)
	store := openSQLite(t, filepath.Join(t.TempDir(), "a.db"))
	clock := fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, err := server.New(ctx, server.Config{Store: store, Secret: ringOf(t, oldSecret), Clock: clock.Now, Logger: quiet()})
	is.NoErr(err)
	_, _, err = a.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "h", Recoverable: true})
	is.NoErr(err)
	is.NoErr(a.Close())

	logs := &logBuffer{}
	b, err := server.New(ctx, server.Config{Store: store, Secret: ringOf(t, newSecret, oldSecret), Clock: clock.Now,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), RewrapEvery: time.Minute})
	is.NoErr(err)
	defer b.Close()
	oldID := ringOf(t, oldSecret).ID()
	time.Sleep(50 * time.Millisecond)
	by, err := b.SealedBy(ctx)
	is.NoErr(err)
	is.True(by[oldID] > 0) // not yet
	clock.Advance(time.Minute)
	eventually(t, func() bool {
		by, err := b.SealedBy(ctx)
		return err == nil && by[oldID] == 0
	})
	eventually(t, func() bool { return strings.Contains(logs.String(), "authkit: rewrap") })
	// The audit event is recorded after the log line: wait for it too.
	eventually(t, func() bool {
		events, err := store.AuditLog(ctx, "", authkit.Page{})
		return err == nil && len(events) > 0 && events[len(events)-1].Action == authkit.AuditSecretRewrapped
	})
}

// TestNew_RefusesASecretThatDoesNotOpenTheStore: a server started with a
// secret other than the store's is refused at start, with a reason naming
// no secret; with that secret in its keyring, it starts.
func TestNew_RefusesASecretThatDoesNotOpenTheStore(t *testing.T) {
	is := is.New(t)
	store := openSQLite(t, filepath.Join(t.TempDir(), "a.db"))
	cfg := server.Config{Store: store, Secret: ringOf(t, oldSecret), CleanupEvery: -1, RotateEvery: -1, Logger: quiet()}
	a, err := server.New(ctx, cfg)
	is.NoErr(err)
	is.NoErr(a.Close())

	cfg.Secret = ringOf(t, newSecret)
	_, err = server.New(ctx, cfg)
	is.True(err != nil)
	is.True(strings.Contains(err.Error(), "server secret"))
	is.True(!strings.Contains(err.Error(), newSecret) && !strings.Contains(err.Error(), oldSecret))

	cfg.Secret = ringOf(t, newSecret, oldSecret)
	b, err := server.New(ctx, cfg)
	is.NoErr(err)
	is.NoErr(b.Close())
}
