package keys_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/memory"
	"github.com/matryer/is"
)

var ctx = context.Background()

func testSecret(t testing.TB) *authkit.Secret {
	s, err := authkit.NewSecret([]byte("keys-test-secret-0123456789abcdefghijkl"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fixture struct {
	svc   *keys.Service
	store authkit.Store
	clock *authkit.FakeClock
}

func newFixture(t testing.TB, store authkit.Store) fixture {
	clock := authkit.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(t), Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{svc: svc, store: store, clock: clock}
}

func TestCreate_ReturnsSecretOnceAndVerifies(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, memory.New())
	k, secret, err := f.svc.Create(ctx, keys.CreateRequest{Owner: "alice", Handle: "ci-bot", Alias: "CI", Scopes: []string{"videos:write", "videos:read", "videos:read"}})
	is.NoErr(err)
	is.True(strings.HasPrefix(secret, "ak_live_"))
	is.Equal(len(secret), len("ak_live_")+36)
	is.Equal(k.Hint, secret[:12])
	is.Equal(k.Scopes, []string{"videos:read", "videos:write"}) // sorted, deduplicated
	is.Equal(k.Env, authkit.EnvLive)
	is.True(f.svc.Looks(secret))

	got, err := f.svc.VerifyKey(ctx, secret)
	is.NoErr(err)
	is.Equal(got.ID, k.ID)
	is.Equal(got.Owner, "alice")

	// Not revealable unless recoverable.
	_, err = f.svc.Reveal(ctx, "alice", k.ID)
	is.True(errors.Is(err, authkit.ErrForbidden))
}

func TestCreate_TestEnvKey(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, memory.New())
	_, secret, err := f.svc.Create(ctx, keys.CreateRequest{Owner: "alice", Handle: "sandbox", Env: authkit.EnvTest})
	is.NoErr(err)
	is.True(strings.HasPrefix(secret, "ak_test_"))
	env, err := f.svc.Parse(secret)
	is.NoErr(err)
	is.Equal(env, authkit.EnvTest)
	k, err := f.svc.VerifyKey(ctx, secret)
	is.NoErr(err)
	is.Equal(k.Env, authkit.EnvTest)
}

func TestCreate_BadInputNamesTheField(t *testing.T) {
	f := newFixture(t, memory.New())
	now := f.clock.Now()
	for _, tc := range []struct {
		name  string
		req   keys.CreateRequest
		field string
	}{
		{"empty handle", keys.CreateRequest{Owner: "a"}, "handle"},
		{"long handle", keys.CreateRequest{Owner: "a", Handle: strings.Repeat("h", 65)}, "handle"},
		{"upper-case handle", keys.CreateRequest{Owner: "a", Handle: "CI"}, "handle"},
		{"handle with space", keys.CreateRequest{Owner: "a", Handle: "c i"}, "handle"},
		{"unknown env", keys.CreateRequest{Owner: "a", Handle: "h", Env: "prod"}, "env"},
		{"scope with space", keys.CreateRequest{Owner: "a", Handle: "h", Scopes: []string{"videos read"}}, "scopes"},
		{"expiry in the past", keys.CreateRequest{Owner: "a", Handle: "h", ExpiresAt: now.Add(-time.Second)}, "expires_at"},
		{"expiry now", keys.CreateRequest{Owner: "a", Handle: "h", ExpiresAt: now}, "expires_at"},
		{"no owner", keys.CreateRequest{Handle: "h"}, "owner"},
		{"control char alias", keys.CreateRequest{Owner: "a", Handle: "h", Alias: "a\nb"}, "alias"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, _, err := f.svc.Create(ctx, tc.req)
			is.True(errors.Is(err, authkit.ErrInvalid))
			var fe *authkit.FieldError
			is.True(errors.As(err, &fe))
			is.Equal(fe.Field, tc.field)
		})
	}
	is := is.New(t)
	list, err := f.svc.List(ctx, "a", authkit.Page{})
	is.NoErr(err)
	is.Equal(len(list), 0) // nothing half-written
}

func TestCreate_DuplicateHandleConflicts(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, memory.New())
	_, _, err := f.svc.Create(ctx, keys.CreateRequest{Owner: "alice", Handle: "ci"})
	is.NoErr(err)
	_, _, err = f.svc.Create(ctx, keys.CreateRequest{Owner: "alice", Handle: "ci"})
	is.True(errors.Is(err, authkit.ErrConflict))
	_, _, err = f.svc.Create(ctx, keys.CreateRequest{Owner: "bob", Handle: "ci"})
	is.NoErr(err)
}

// panicStore fails the test on any call: it proves the store is not asked.
type panicStore struct {
	authkit.KeyStore
	t *testing.T
}

func (p panicStore) KeyBySecret(context.Context, []byte) (*authkit.Key, *authkit.KeySecret, error) {
	p.t.Fatal("the store was asked about a malformed key")
	return nil, nil, nil
}

func TestVerifyKey_MalformedNeverReachesTheStore(t *testing.T) {
	f := newFixture(t, memory.New())
	_, good, err := f.svc.Create(ctx, keys.CreateRequest{Owner: "a", Handle: "h"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := keys.New(keys.Config{Store: panicStore{t: t}, Secret: testSecret(t)})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(c byte) byte {
		if c == 'a' {
			return 'b'
		}
		return 'a'
	}
	last := len(good) - 1
	for name, s := range map[string]string{
		"bad checksum":   good[:last] + string(flip(good[last])),
		"typo in random": good[:10] + string(flip(good[10])) + good[11:],
		"wrong prefix":   "xk" + good[2:],
		"unknown env":    strings.Replace(good, "_live_", "_prod_", 1),
		"truncated":      good[:len(good)-3],
		"empty":          "",
		"random string":  "hello world",
		"a JWT":          "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
	} {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			_, err := svc.VerifyKey(ctx, s)
			is.True(errors.Is(err, authkit.ErrInvalid))
			is.True(!svc.Looks(s))
		})
	}
}

func TestVerifyKey_UnknownDeletedExpired(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, memory.New())
	other := newFixture(t, memory.New()) // same secret, other store: a well-formed unknown key
	_, unknown, _ := other.svc.Create(ctx, keys.CreateRequest{Owner: "a", Handle: "h"})
	_, err := f.svc.VerifyKey(ctx, unknown)
	is.True(errors.Is(err, authkit.ErrNotFound))

	k, secret, _ := f.svc.Create(ctx, keys.CreateRequest{Owner: "a", Handle: "del"})
	is.NoErr(f.svc.Delete(ctx, "a", k.ID))
	_, err = f.svc.VerifyKey(ctx, secret)
	is.True(errors.Is(err, authkit.ErrRevoked))

	_, secret, _ = f.svc.Create(ctx, keys.CreateRequest{Owner: "a", Handle: "exp", ExpiresAt: f.clock.Now().Add(time.Hour)})
	_, err = f.svc.VerifyKey(ctx, secret)
	is.NoErr(err)
	f.clock.Advance(time.Hour)
	_, err = f.svc.VerifyKey(ctx, secret)
	is.True(errors.Is(err, authkit.ErrExpired))
}

func TestRotate_OldSecretWorksDuringGrace(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, memory.New())
	k, old, _ := f.svc.Create(ctx, keys.CreateRequest{Owner: "a", Handle: "h", Recoverable: true})
	fresh, err := f.svc.Rotate(ctx, "a", k.ID, time.Minute)
	is.NoErr(err)
	is.True(fresh != old)
	_, err = f.svc.VerifyKey(ctx, old)
	is.NoErr(err)
	_, err = f.svc.VerifyKey(ctx, fresh)
	is.NoErr(err)
	revealed, err := f.svc.Reveal(ctx, "a", k.ID)
	is.NoErr(err)
	is.Equal(revealed, fresh) // the current secret; still recoverable
	f.clock.Advance(time.Minute)
	_, err = f.svc.VerifyKey(ctx, old)
	is.True(errors.Is(err, authkit.ErrRevoked))
	_, err = f.svc.VerifyKey(ctx, fresh)
	is.NoErr(err)

	now, err := f.svc.Rotate(ctx, "a", k.ID, 0) // no grace: the old stops at once
	is.NoErr(err)
	_, err = f.svc.VerifyKey(ctx, fresh)
	is.True(errors.Is(err, authkit.ErrRevoked))
	_, err = f.svc.VerifyKey(ctx, now)
	is.NoErr(err)
	_, err = f.svc.Rotate(ctx, "a", k.ID, -time.Second)
	is.True(errors.Is(err, authkit.ErrInvalid))
}

func TestOwnerIsolation_AnotherOwnersKeyIsNotFound(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, memory.New())
	k, secret, _ := f.svc.Create(ctx, keys.CreateRequest{Owner: "alice", Handle: "h", Recoverable: true})
	_, err := f.svc.Get(ctx, "bob", k.ID)
	is.True(errors.Is(err, authkit.ErrNotFound))
	_, err = f.svc.GetByHandle(ctx, "bob", "h")
	is.True(errors.Is(err, authkit.ErrNotFound))
	_, err = f.svc.Rotate(ctx, "bob", k.ID, 0)
	is.True(errors.Is(err, authkit.ErrNotFound))
	_, err = f.svc.Reveal(ctx, "bob", k.ID)
	is.True(errors.Is(err, authkit.ErrNotFound))
	is.True(errors.Is(f.svc.Delete(ctx, "bob", k.ID), authkit.ErrNotFound))
	list, _ := f.svc.List(ctx, "bob", authkit.Page{})
	is.Equal(len(list), 0)
	_, err = f.svc.VerifyKey(ctx, secret) // alice's key untouched
	is.NoErr(err)
}

func TestVerifyKey_LastUsedWrittenAtMostOncePerMinute(t *testing.T) {
	is := is.New(t)
	store := &countingStore{Store: memory.New()}
	f := newFixture(t, store)
	k, secret, _ := f.svc.Create(ctx, keys.CreateRequest{Owner: "a", Handle: "h"})
	for range 10 {
		_, err := f.svc.VerifyKey(ctx, secret)
		is.NoErr(err)
	}
	is.Equal(store.touches, 1)
	got, _ := f.svc.Get(ctx, "a", k.ID)
	is.True(got.LastUsedAt.Equal(f.clock.Now()))
	f.clock.Advance(61 * time.Second)
	_, err := f.svc.VerifyKey(ctx, secret)
	is.NoErr(err)
	is.Equal(store.touches, 2)
}

// countingStore is a real memory store that counts TouchKey calls.
type countingStore struct {
	authkit.Store
	touches int
}

func (c *countingStore) TouchKey(ctx context.Context, id string, at time.Time) error {
	c.touches++
	return c.Store.TouchKey(ctx, id, at)
}

func TestNew_RefusesBadConfig(t *testing.T) {
	is := is.New(t)
	_, err := keys.New(keys.Config{Secret: testSecret(t)})
	is.True(errors.Is(err, authkit.ErrInvalid))
	_, err = keys.New(keys.Config{Store: memory.New()})
	is.True(errors.Is(err, authkit.ErrInvalid))
	_, err = keys.New(keys.Config{Store: memory.New(), Secret: testSecret(t), Prefix: "A_b"})
	is.True(errors.Is(err, authkit.ErrInvalid))
	svc, err := keys.New(keys.Config{Store: memory.New(), Secret: testSecret(t), Prefix: "acme"})
	is.NoErr(err)
	_, secret, err := svc.Create(ctx, keys.CreateRequest{Owner: "a", Handle: "h"})
	is.NoErr(err)
	is.True(strings.HasPrefix(secret, "acme_live_"))
}

func FuzzParse(f *testing.F) {
	svc, _ := keys.New(keys.Config{Store: memory.New(), Secret: testSecret(f)})
	_, good, _ := svc.Create(ctx, keys.CreateRequest{Owner: "a", Handle: "h"})
	f.Add(good)
	f.Add("ak_live_")
	f.Add("ak_test_000000000000000000000000000000000000")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		env, err := svc.Parse(s)
		if err != nil {
			if !errors.Is(err, authkit.ErrInvalid) {
				t.Fatalf("Parse error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if !strings.HasPrefix(s, "ak_"+string(env)+"_") || len(s) != len("ak_live_")+36 {
			t.Fatalf("accepted malformed %q", s)
		}
	})
}
