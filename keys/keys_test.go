package keys_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/memory"
)

var ctx = context.Background()

func testSecret(t testing.TB) *authkit.Secret {
	return secretFrom(t, "keys-test-secret-0123456789abcdefghijkl")
}

func secretFrom(t testing.TB, s string) *authkit.Secret {
	sec, err := authkit.NewSecret([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

// testStores lists the real backends the behaviour tests run on; files for
// other backends add to it in init.
var testStores = []struct {
	name string
	open func(t testing.TB) authkit.Store
}{
	{"memory", func(testing.TB) authkit.Store { return memory.New() }},
}

type fixture struct {
	svc   *keys.Service
	store authkit.Store
	clock *fakeclock.Clock
}

func newFixture(t testing.TB, store authkit.Store) fixture {
	f := fixture{store: store, clock: fakeclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	f.svc = f.service(t)
	return f
}

// service starts another Service on the fixture's store and clock (a
// replica), closed when the test ends.
func (f fixture) service(t testing.TB) *keys.Service {
	svc, err := keys.New(keys.Config{Store: f.store, Secret: testSecret(t), Clock: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

// eachStore runs fn as a subtest on a fresh fixture over every backend.
func eachStore(t *testing.T, fn func(t *testing.T, f fixture)) {
	for _, ts := range testStores {
		t.Run(ts.name, func(t *testing.T) { fn(t, newFixture(t, ts.open(t))) })
	}
}

func mustCreate(t *testing.T, f fixture, r authkit.KeyRequest) (*authkit.Key, string) {
	t.Helper()
	k, secret, err := f.svc.Create(ctx, r)
	if err != nil {
		t.Fatalf("create %q: %v", r.Handle, err)
	}
	return k, secret
}

func TestCreate_ReturnsSecretOnceAndVerifies(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, secret, err := f.svc.Create(ctx, authkit.KeyRequest{
			Owner: "alice", Handle: "ci-bot", Alias: "CI ✓", Scopes: []string{"videos:write", "videos:read", "videos:read"},
		})
		is.NoErr(err)
		is.True(strings.HasPrefix(secret, "ak_live_"))
		is.Equal(len(secret), len("ak_live_")+36)
		is.Equal(k.Hint, secret[:len("ak_live_")+4])                // prefix, env and 4 random characters
		is.Equal(k.Scopes, []string{"videos:read", "videos:write"}) // sorted, deduplicated
		is.Equal(k.Env, authkit.EnvLive)
		is.Equal(k.Alias, "CI ✓")
		is.Equal(len(k.ID), 36)
		is.Equal(k.ID[14], byte('7')) // UUIDv7
		is.True(k.CreatedAt.Equal(f.clock.Now()))
		is.Equal(k.CreatedAt.Location(), time.UTC)
		is.True(k.ExpiresAt.IsZero())
		is.True(f.svc.LooksLikeKey(secret))

		got, err := f.svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		is.Equal(got.ID, k.ID)
		is.Equal(got.Owner, "alice")
		is.Equal(got.Handle, "ci-bot")
		is.Equal(got.Scopes, k.Scopes)

		byID, err := f.svc.Get(ctx, "alice", k.ID)
		is.NoErr(err)
		is.Equal(byID.Hint, k.Hint)
		byHandle, err := f.svc.GetByHandle(ctx, "alice", "ci-bot")
		is.NoErr(err)
		is.Equal(byHandle.ID, k.ID)

		// The secret is not given back unless the key is recoverable.
		_, err = f.svc.Reveal(ctx, "alice", k.ID)
		is.True(errors.Is(err, authkit.ErrForbidden))
	})
}

func TestCreate_TestEnvKey(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "alice", Handle: "sandbox", Env: authkit.EnvTest})
		is.True(strings.HasPrefix(secret, "ak_test_"))
		is.True(strings.HasPrefix(k.Hint, "ak_test_"))
		env, err := f.svc.Parse(secret)
		is.NoErr(err)
		is.Equal(env, authkit.EnvTest)
		got, err := f.svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		is.Equal(got.Env, authkit.EnvTest)
	})
}

func TestCreate_ExpiryIsKeptInUTC(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		paris := time.FixedZone("CET", 3600)
		exp := f.clock.Now().Add(48 * time.Hour).In(paris).Add(123 * time.Nanosecond)
		k, _ := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h", ExpiresAt: exp})
		is.Equal(k.ExpiresAt.Location(), time.UTC)
		is.True(k.ExpiresAt.Equal(exp.Truncate(time.Microsecond)))
		got, err := f.svc.Get(ctx, "a", k.ID)
		is.NoErr(err)
		is.True(got.ExpiresAt.Equal(k.ExpiresAt))
	})
}

func TestCreate_BadInputNamesTheFieldAndWritesNothing(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		req   authkit.KeyRequest
		field string
	}{
		{"no owner", authkit.KeyRequest{Handle: "h"}, "owner"},
		{"empty handle", authkit.KeyRequest{Owner: "a"}, "handle"},
		{"handle of 65", authkit.KeyRequest{Owner: "a", Handle: strings.Repeat("h", 65)}, "handle"},
		{"upper-case handle", authkit.KeyRequest{Owner: "a", Handle: "CI"}, "handle"},
		{"handle with space", authkit.KeyRequest{Owner: "a", Handle: "c i"}, "handle"},
		{"handle with dot", authkit.KeyRequest{Owner: "a", Handle: "c.i"}, "handle"},
		{"handle with non-ASCII", authkit.KeyRequest{Owner: "a", Handle: "clé"}, "handle"},
		{"alias of 129 bytes", authkit.KeyRequest{Owner: "a", Handle: "h", Alias: strings.Repeat("x", 129)}, "alias"},
		{"alias with newline", authkit.KeyRequest{Owner: "a", Handle: "h", Alias: "a\nb"}, "alias"},
		{"alias with C1 control", authkit.KeyRequest{Owner: "a", Handle: "h", Alias: "a\u0085b"}, "alias"},
		{"alias not UTF-8", authkit.KeyRequest{Owner: "a", Handle: "h", Alias: "a\xffb"}, "alias"},
		{"unknown env", authkit.KeyRequest{Owner: "a", Handle: "h", Env: "prod"}, "env"},
		{"scope with space", authkit.KeyRequest{Owner: "a", Handle: "h", Scopes: []string{"videos read"}}, "scopes"},
		{"empty scope", authkit.KeyRequest{Owner: "a", Handle: "h", Scopes: []string{""}}, "scopes"},
		{"expiry in the past", authkit.KeyRequest{Owner: "a", Handle: "h", ExpiresAt: now.Add(-time.Second)}, "expires_at"},
		{"expiry now", authkit.KeyRequest{Owner: "a", Handle: "h", ExpiresAt: now}, "expires_at"},
		{"expiry within the microsecond", authkit.KeyRequest{Owner: "a", Handle: "h", ExpiresAt: now.Add(500 * time.Nanosecond)}, "expires_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			// The store fails the test if it is called at all: nothing is
			// half-written because nothing is written.
			svc, err := keys.New(keys.Config{Store: failStore{t}, Secret: testSecret(t), Clock: fakeclock.New(now).Now})
			is.NoErr(err)
			k, secret, err := svc.Create(ctx, tc.req)
			is.True(errors.Is(err, authkit.ErrInvalid))
			var fe *authkit.FieldError
			is.True(errors.As(err, &fe))
			is.Equal(fe.Field, tc.field)
			is.True(k == nil)
			is.Equal(secret, "")
		})
	}
}

func TestCreate_EdgeInputsAreAccepted(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, _ := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: strings.Repeat("z", 64), Alias: strings.Repeat("é", 64)})
		is.Equal(len(k.Handle), 64)
		k, _ = mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "a_b-0", Scopes: []string{}})
		is.Equal(len(k.Scopes), 0)
	})
}

func TestCreate_DuplicateHandleConflictsUntilDeleted(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, _ := mustCreate(t, f, authkit.KeyRequest{Owner: "alice", Handle: "ci"})
		_, _, err := f.svc.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "ci"})
		is.True(errors.Is(err, authkit.ErrConflict))
		mustCreate(t, f, authkit.KeyRequest{Owner: "bob", Handle: "ci"}) // handles are per owner
		is.NoErr(f.svc.Delete(ctx, "alice", k.ID))
		mustCreate(t, f, authkit.KeyRequest{Owner: "alice", Handle: "ci"}) // free again
	})
}

// failStore is an authkit.KeyStore that fails the test on any call. It is
// the one fake worth having: it proves that the store is not asked.
type failStore struct{ t *testing.T }

func (f failStore) fail(m string) { f.t.Helper(); f.t.Fatalf("the store was called: %s", m) }

func (f failStore) CreateKey(context.Context, *authkit.Key, *authkit.KeySecret) error {
	f.fail("CreateKey")
	return nil
}

func (f failStore) KeyBySecret(context.Context, []byte) (*authkit.Key, *authkit.KeySecret, error) {
	f.fail("KeyBySecret")
	return nil, nil, nil
}

func (f failStore) KeyByID(context.Context, string) (*authkit.Key, error) {
	f.fail("KeyByID")
	return nil, nil
}

func (f failStore) Key(context.Context, string, string) (*authkit.Key, error) {
	f.fail("Key")
	return nil, nil
}

func (f failStore) KeyByHandle(context.Context, string, string) (*authkit.Key, error) {
	f.fail("KeyByHandle")
	return nil, nil
}

func (f failStore) ListKeys(context.Context, string, authkit.Page) ([]*authkit.Key, error) {
	f.fail("ListKeys")
	return nil, nil
}

func (f failStore) CurrentKeySecret(context.Context, string, string) (*authkit.KeySecret, error) {
	f.fail("CurrentKeySecret")
	return nil, nil
}

func (f failStore) RotateKey(context.Context, string, string, *authkit.KeySecret, string, time.Time) error {
	f.fail("RotateKey")
	return nil
}

func (f failStore) RevokeKey(context.Context, string, string, time.Time) error {
	f.fail("RevokeKey")
	return nil
}

func (f failStore) TouchKeys(context.Context, map[string]time.Time) error {
	f.fail("TouchKeys")
	return nil
}

func (f failStore) UpdateKey(context.Context, *authkit.Key) error {
	f.fail("UpdateKey")
	return nil
}

var _ authkit.KeyStore = failStore{}

func TestVerifyKey_MalformedNeverReachesTheStore(t *testing.T) {
	f := newFixture(t, memory.New())
	_, good := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h"})
	acme, err := keys.New(keys.Config{Store: memory.New(), Secret: testSecret(t), Prefix: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	_, otherPrefix, err := acme.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "h"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := keys.New(keys.Config{Store: failStore{t}, Secret: testSecret(t)})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(c byte) string {
		if c == 'a' {
			return "b"
		}
		return "a"
	}
	last := len(good) - 1
	sw := 10 // two neighbours that differ: swapping equal ones changes nothing
	for good[sw] == good[sw+1] {
		sw++
	}
	for name, s := range map[string]string{
		"bad checksum":            good[:last] + flip(good[last]),
		"typo in random":          good[:10] + flip(good[10]) + good[11:],
		"swapped characters":      good[:sw] + good[sw+1:sw+2] + good[sw:sw+1] + good[sw+2:],
		"wrong prefix":            "xk" + good[2:],
		"another service's key":   otherPrefix,
		"unknown env":             strings.Replace(good, "_live_", "_prod_", 1),
		"upper-case env":          strings.Replace(good, "_live_", "_LIVE_", 1),
		"truncated":               good[:len(good)-3],
		"one character too many":  good + "a",
		"non-base62 character":    good[:12] + "-" + good[13:],
		"surrounding space":       " " + good,
		"prefix only":             "ak_live_",
		"empty":                   "",
		"random string":           "hello world",
		"a JWT":                   "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln",
		"zeros with bad checksum": "ak_live_" + strings.Repeat("0", 36),
	} {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			k, err := svc.VerifyKey(ctx, s)
			is.True(k == nil)
			is.True(errors.Is(err, authkit.ErrInvalid))
			var fe *authkit.FieldError
			is.True(errors.As(err, &fe))
			is.Equal(fe.Field, "key")
			if s != "" {
				is.True(!strings.Contains(err.Error(), s)) // the secret is not in the error
			}
			is.True(!svc.LooksLikeKey(s))
			_, err = svc.Parse(s)
			is.True(errors.Is(err, authkit.ErrInvalid))
		})
	}
}

func TestVerifyKey_UnknownDeletedExpired(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		other := newFixture(t, memory.New()) // same secret, another store: a well-formed unknown key
		_, unknown := mustCreate(t, other, authkit.KeyRequest{Owner: "a", Handle: "h"})
		_, err := f.svc.VerifyKey(ctx, unknown)
		is.True(errors.Is(err, authkit.ErrNotFound))
		is.True(!strings.Contains(err.Error(), unknown))

		k, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "del"})
		is.NoErr(f.svc.Delete(ctx, "a", k.ID))
		_, err = f.svc.VerifyKey(ctx, secret)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.svc.Get(ctx, "a", k.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = f.svc.GetByHandle(ctx, "a", "del")
		is.True(errors.Is(err, authkit.ErrNotFound))
		is.True(errors.Is(f.svc.Delete(ctx, "a", k.ID), authkit.ErrNotFound)) // deleting twice

		_, secret = mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "exp", ExpiresAt: f.clock.Now().Add(time.Hour)})
		_, err = f.svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		f.clock.Advance(time.Hour - time.Microsecond)
		_, err = f.svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		f.clock.Advance(time.Microsecond)
		_, err = f.svc.VerifyKey(ctx, secret)
		is.True(errors.Is(err, authkit.ErrExpired))
	})
}

// TestVerifyKey_OtherServerSecretIsAnError: a server started with a secret
// that did not make the store's hash key cannot tell a key from a wrong
// one; it says so (a 500, logged), rather than call every key unknown.
func TestVerifyKey_OtherServerSecretIsAnError(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		_, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h"})
		other := secretFrom(t, "another-server-secret-0123456789abcdef")
		svc, err := keys.New(keys.Config{Store: f.store, Secret: other})
		is.NoErr(err)
		defer svc.Close()
		_, err = svc.VerifyKey(ctx, secret)
		is.True(err != nil)
		is.True(!errors.Is(err, authkit.ErrNotFound))
		is.True(strings.Contains(err.Error(), "server secret"))
		is.True(!strings.Contains(err.Error(), "another-server-secret"))
	})
}

func TestRotate_OldSecretWorksDuringGrace(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, old := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h", Env: authkit.EnvTest})
		rotated, fresh, err := f.svc.Rotate(ctx, "a", k.ID, time.Minute)
		is.NoErr(err)
		is.True(fresh != old)
		is.True(strings.HasPrefix(fresh, "ak_test_"))     // the env stays
		is.Equal(rotated.Hint, fresh[:len("ak_test_")+4]) // the hint follows the new secret
		got, err := f.svc.Get(ctx, "a", k.ID)
		is.NoErr(err)
		is.Equal(got.Hint, rotated.Hint)
		for _, s := range []string{old, fresh} {
			got, err := f.svc.VerifyKey(ctx, s)
			is.NoErr(err)
			is.Equal(got.ID, k.ID)
		}
		f.clock.Advance(time.Minute - time.Microsecond)
		_, err = f.svc.VerifyKey(ctx, old)
		is.NoErr(err)
		f.clock.Advance(time.Microsecond)
		_, err = f.svc.VerifyKey(ctx, old)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.svc.VerifyKey(ctx, fresh)
		is.NoErr(err)
	})
}

func TestRotate_ZeroGraceStopsTheOldSecretAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, old := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h"})
		_, fresh, err := f.svc.Rotate(ctx, "a", k.ID, 0)
		is.NoErr(err)
		_, err = f.svc.VerifyKey(ctx, old)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.svc.VerifyKey(ctx, fresh)
		is.NoErr(err)
	})
}

func TestRotate_TwiceInGraceKeepsBothOlderSecretsUntilTheNewGraceEnds(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, first := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h"})
		_, second, err := f.svc.Rotate(ctx, "a", k.ID, time.Hour)
		is.NoErr(err)
		f.clock.Advance(time.Minute)
		_, third, err := f.svc.Rotate(ctx, "a", k.ID, time.Minute)
		is.NoErr(err)
		for _, s := range []string{first, second, third} {
			_, err = f.svc.VerifyKey(ctx, s)
			is.NoErr(err)
		}
		f.clock.Advance(time.Minute)
		for _, s := range []string{first, second} {
			_, err = f.svc.VerifyKey(ctx, s)
			is.True(errors.Is(err, authkit.ErrRevoked))
		}
		_, err = f.svc.VerifyKey(ctx, third)
		is.NoErr(err)
	})
}

func TestRotate_NegativeGraceIsInvalidAndAsksNoStore(t *testing.T) {
	is := is.New(t)
	svc, err := keys.New(keys.Config{Store: failStore{t}, Secret: testSecret(t)})
	is.NoErr(err)
	_, _, err = svc.Rotate(ctx, "a", "0190b5a4-0000-7000-8000-000000000000", -time.Second)
	is.True(errors.Is(err, authkit.ErrInvalid))
	var fe *authkit.FieldError
	is.True(errors.As(err, &fe))
	is.Equal(fe.Field, "grace")
}

func TestRotate_DeletedKeyIsNotFound(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, _ := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h"})
		is.NoErr(f.svc.Delete(ctx, "a", k.ID))
		_, _, err := f.svc.Rotate(ctx, "a", k.ID, time.Minute)
		is.True(errors.Is(err, authkit.ErrNotFound))
	})
}

func TestReveal_RecoverableKeyGivesBackItsCurrentSecret(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h", Recoverable: true})
		is.True(k.Recoverable)
		got, err := f.svc.Reveal(ctx, "a", k.ID)
		is.NoErr(err)
		is.Equal(got, secret)

		_, fresh, err := f.svc.Rotate(ctx, "a", k.ID, time.Minute)
		is.NoErr(err)
		got, err = f.svc.Reveal(ctx, "a", k.ID)
		is.NoErr(err)
		is.Equal(got, fresh) // the rotated key stays recoverable

		is.NoErr(f.svc.Delete(ctx, "a", k.ID))
		_, err = f.svc.Reveal(ctx, "a", k.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
	})
}

func TestReveal_PlainKeyIsForbidden(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, _ := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h"})
		_, _, err := f.svc.Rotate(ctx, "a", k.ID, 0) // a rotated plain key stays plain
		is.NoErr(err)
		_, err = f.svc.Reveal(ctx, "a", k.ID)
		is.True(errors.Is(err, authkit.ErrForbidden))
	})
}

func TestReveal_OtherServerSecretCannotOpen(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, _ := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h", Recoverable: true})
		svc, err := keys.New(keys.Config{Store: f.store, Secret: secretFrom(t, "another-server-secret-0123456789abcdef")})
		is.NoErr(err)
		_, err = svc.Reveal(ctx, "a", k.ID)
		is.True(errors.Is(err, authkit.ErrForbidden))
	})
}

func TestOwnerIsolation_AnotherOwnersKeyIsNotFound(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "alice", Handle: "h", Recoverable: true})
		_, err := f.svc.Get(ctx, "bob", k.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = f.svc.GetByHandle(ctx, "bob", "h")
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, _, err = f.svc.Rotate(ctx, "bob", k.ID, 0)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = f.svc.Reveal(ctx, "bob", k.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
		is.True(errors.Is(f.svc.Delete(ctx, "bob", k.ID), authkit.ErrNotFound))
		list, err := f.svc.List(ctx, "bob", authkit.Page{})
		is.NoErr(err)
		is.Equal(len(list), 0)

		// Alice's key is untouched by all of it.
		got, err := f.svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		is.Equal(got.ID, k.ID)
		revealed, err := f.svc.Reveal(ctx, "alice", k.ID)
		is.NoErr(err)
		is.Equal(revealed, secret)
	})
}

func TestList_PagesTheOwnersLiveKeysInCreationOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		var ids []string
		for _, h := range []string{"c", "a", "b", "d"} {
			k, _ := mustCreate(t, f, authkit.KeyRequest{Owner: "alice", Handle: h})
			ids = append(ids, k.ID)
		}
		mustCreate(t, f, authkit.KeyRequest{Owner: "bob", Handle: "x"})
		is.NoErr(f.svc.Delete(ctx, "alice", ids[3]))

		page, err := f.svc.List(ctx, "alice", authkit.Page{Limit: 2})
		is.NoErr(err)
		is.Equal(len(page), 2)
		is.Equal(page[0].ID, ids[0])
		is.Equal(page[1].ID, ids[1])
		page, err = f.svc.List(ctx, "alice", authkit.Page{After: page[1].ID, Limit: 2})
		is.NoErr(err)
		is.Equal(len(page), 1) // the deleted key is not listed
		is.Equal(page[0].ID, ids[2])
		is.Equal(page[0].Handle, "b")
	})
}

// TestVerifyKey_NothingWritesOnTheRequestPath: verifications record their
// use in memory; one Flush writes the last use of every key in one batch;
// a flush with nothing new writes nothing.
func TestVerifyKey_NothingWritesOnTheRequestPath(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		store := &countingStore{Store: f.store}
		svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(t), Clock: f.clock.Now, FlushEvery: -1})
		is.NoErr(err)
		defer svc.Close()
		var ks []*authkit.Key
		var secrets []string
		for i := range 5 {
			k, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: fmt.Sprint("h", i)})
			is.NoErr(err)
			ks, secrets = append(ks, k), append(secrets, secret)
		}
		for range 3 {
			for _, secret := range secrets {
				_, err := svc.VerifyKey(ctx, secret)
				is.NoErr(err)
			}
			f.clock.Advance(time.Second)
		}
		is.Equal(store.count(), 0) // no write while verifying
		last := f.clock.Now().Add(-time.Second)
		is.NoErr(svc.Flush(ctx))
		is.Equal(store.count(), 1) // one batch
		is.Equal(store.lastBatch(), 5)
		for _, k := range ks {
			got, err := svc.Get(ctx, "a", k.ID)
			is.NoErr(err)
			is.True(got.LastUsedAt.Equal(last))
		}
		is.NoErr(svc.Flush(ctx))
		is.Equal(store.count(), 1) // nothing new, nothing written
	})
}

func TestVerifyKey_ConcurrentVerifiesWriteNothingUntilTheFlush(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		store := &countingStore{Store: f.store}
		svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(t), Clock: f.clock.Now, FlushEvery: -1})
		is.NoErr(err)
		_, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "h"})
		is.NoErr(err)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				_, err := svc.VerifyKey(ctx, secret)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			is.NoErr(err)
		}
		is.Equal(store.count(), 0)
		is.NoErr(svc.Close()) // Close flushes
		is.Equal(store.count(), 1)
	})
}

// TestFlush_AFailedWriteIsKeptForTheNext: a write that fails loses nothing;
// the next flush writes the same times.
func TestFlush_AFailedWriteIsKeptForTheNext(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		store := &countingStore{Store: f.store, fail: errors.New("disk full")}
		svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(t), Clock: f.clock.Now, FlushEvery: -1})
		is.NoErr(err)
		defer svc.Close()
		k, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "h"})
		is.NoErr(err)
		_, err = svc.VerifyKey(ctx, secret) // verification itself succeeds
		is.NoErr(err)
		used := f.clock.Now()
		is.True(svc.Flush(ctx) != nil)
		store.setFail(nil)
		f.clock.Advance(time.Minute)
		is.NoErr(svc.Flush(ctx))
		got, err := svc.Get(ctx, "a", k.ID)
		is.NoErr(err)
		is.True(got.LastUsedAt.Equal(used))
	})
}

// TestFlush_RunsByItselfEveryInterval: with a real interval, LastUsedAt
// reaches the store with no call but the verification.
func TestFlush_RunsByItselfEveryInterval(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, memory.New())
	svc, err := keys.New(keys.Config{Store: f.store, Secret: testSecret(t), Clock: f.clock.Now, FlushEvery: 20 * time.Millisecond})
	is.NoErr(err)
	defer svc.Close()
	k, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "h"})
	is.NoErr(err)
	_, err = svc.VerifyKey(ctx, secret)
	is.NoErr(err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := f.store.KeyByID(ctx, k.ID)
		is.NoErr(err)
		if got.LastUsedAt.Equal(f.clock.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("LastUsedAt was never written")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestVerifyKey_SeenBeforeIsAnsweredWithoutTheStore: the second
// verification of a key does not read the store, until the cache's TTL
// has passed; unknown keys are read every time (never cached).
func TestVerifyKey_SeenBeforeIsAnsweredWithoutTheStore(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		store := &countingStore{Store: f.store}
		svc, err := keys.New(keys.Config{Store: store, Secret: testSecret(t), Clock: f.clock.Now, CacheTTL: time.Minute})
		is.NoErr(err)
		defer svc.Close()
		_, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "h"})
		is.NoErr(err)
		for range 5 {
			_, err := svc.VerifyKey(ctx, secret)
			is.NoErr(err)
		}
		is.Equal(store.reads(), 1)
		f.clock.Advance(time.Minute)
		_, err = svc.VerifyKey(ctx, secret) // stale: answered, and read again in the background
		is.NoErr(err)
		waitFor(t, func() bool { return store.reads() == 2 })
		f.clock.Advance(15 * time.Minute) // past the stale window: read before answering
		_, err = svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		is.Equal(store.reads(), 3)
		_, unknown := mustCreate(t, newFixture(t, memory.New()), authkit.KeyRequest{Owner: "z", Handle: "z"})
		for range 3 {
			_, err := svc.VerifyKey(ctx, unknown)
			is.True(errors.Is(err, authkit.ErrNotFound))
		}
		is.Equal(store.reads(), 6)
		entries, _ := keys.CacheLen(svc)
		is.Equal(entries, 1) // the unknown key did not get in
	})
}

// silentStore is a real store that tells no one of its revocations (as a
// replica whose notifications are lost): only the cache's freshness
// bounds what it serves.
type silentStore struct{ authkit.KeyStore }

// TestVerifyKey_WithoutNotificationsAStaleEntryIsRefreshedAtItsNextUse: a
// key deleted where this service hears nothing of it is answered until the
// entry is stale, once more while the store is read again, and refused as
// soon as that read is back.
func TestVerifyKey_WithoutNotificationsAStaleEntryIsRefreshedAtItsNextUse(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		svc, err := keys.New(keys.Config{Store: silentStore{f.store}, Secret: testSecret(t), Clock: f.clock.Now, CacheTTL: time.Second})
		is.NoErr(err)
		defer svc.Close()
		k, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h"})
		_, err = svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		is.NoErr(f.svc.Delete(ctx, "a", k.ID)) // on another replica
		_, err = svc.VerifyKey(ctx, secret)
		is.NoErr(err) // fresh: not known here yet
		f.clock.Advance(time.Second)
		waitFor(t, func() bool {
			_, err := svc.VerifyKey(ctx, secret)
			return errors.Is(err, authkit.ErrRevoked) || errors.Is(err, authkit.ErrNotFound)
		})
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not within 5 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestVerifyKey_DeleteAndRotateReachEveryCacheAtOnce: two services on one
// store (two replicas); a key verified (cached) on both, then deleted on
// one, is refused on the other at once; so is a secret rotated away with no
// grace, while one rotated with a grace works until it ends.
func TestVerifyKey_DeleteAndRotateReachEveryCacheAtOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		a, b := f.svc, f.service(t)
		k1, s1 := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "del"})
		k2, s2 := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "rot"})
		k3, s3 := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "grace"})
		for _, s := range []string{s1, s2, s3} {
			for _, svc := range []*keys.Service{a, b} {
				_, err := svc.VerifyKey(ctx, s) // now cached on both
				is.NoErr(err)
			}
		}
		is.NoErr(a.Delete(ctx, "a", k1.ID))
		_, err := b.VerifyKey(ctx, s1)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, _, err = a.Rotate(ctx, "a", k2.ID, 0)
		is.NoErr(err)
		_, err = b.VerifyKey(ctx, s2)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, _, err = a.Rotate(ctx, "a", k3.ID, time.Minute)
		is.NoErr(err)
		_, err = b.VerifyKey(ctx, s3)
		is.NoErr(err) // in its grace
		f.clock.Advance(time.Minute)
		_, err = b.VerifyKey(ctx, s3)
		is.True(errors.Is(err, authkit.ErrRevoked)) // from the cache: the grace ended
	})
}

// TestVerifyKey_ACallerCannotChangeTheCache: VerifyKey hands out a copy.
func TestVerifyKey_ACallerCannotChangeTheCache(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, memory.New())
	_, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h", Scopes: []string{"read"}})
	k, err := f.svc.VerifyKey(ctx, secret)
	is.NoErr(err)
	k.Owner, k.Scopes[0] = "mallory", "admin"
	again, err := f.svc.VerifyKey(ctx, secret)
	is.NoErr(err)
	is.Equal(again.Owner, "a")
	is.Equal(again.Scopes, []string{"read"})
	p, err := f.svc.KeyPrincipal(ctx, secret)
	is.NoErr(err)
	is.Equal(p.Scopes(), []string{"read"})
}

// countingStore is a real store that counts its TouchKeys calls (and the
// size of the last batch) and its KeyBySecret reads, and fails TouchKeys
// (without writing) while fail is set.
type countingStore struct {
	authkit.Store
	mu      sync.Mutex
	fail    error
	touches int
	batch   int
	secrets int
}

func (c *countingStore) TouchKeys(ctx context.Context, uses map[string]time.Time) error {
	c.mu.Lock()
	c.touches++
	c.batch = len(uses)
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return fail
	}
	return c.Store.TouchKeys(ctx, uses)
}

func (c *countingStore) KeyBySecret(ctx context.Context, h []byte) (*authkit.Key, *authkit.KeySecret, error) {
	c.mu.Lock()
	c.secrets++
	c.mu.Unlock()
	return c.Store.KeyBySecret(ctx, h)
}

func (c *countingStore) setFail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

func (c *countingStore) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.touches
}

func (c *countingStore) lastBatch() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.batch
}

func (c *countingStore) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.secrets
}

func TestNew_RefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]keys.Config{
		"no store":               {Secret: testSecret(t)},
		"no secret":              {Store: memory.New()},
		"upper-case prefix":      {Store: memory.New(), Secret: testSecret(t), Prefix: "Ak"},
		"prefix with underscore": {Store: memory.New(), Secret: testSecret(t), Prefix: "a_b"},
		"prefix starting with 0": {Store: memory.New(), Secret: testSecret(t), Prefix: "0ak"},
		"prefix of 17":           {Store: memory.New(), Secret: testSecret(t), Prefix: strings.Repeat("a", 17)},
	} {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			svc, err := keys.New(cfg)
			is.True(errors.Is(err, authkit.ErrInvalid))
			is.True(svc == nil)
		})
	}
}

func TestNew_CustomPrefix(t *testing.T) {
	for _, prefix := range []string{"a", "acme", "x9", strings.Repeat("q", 16)} {
		t.Run(prefix, func(t *testing.T) {
			is := is.New(t)
			svc, err := keys.New(keys.Config{Store: memory.New(), Secret: testSecret(t), Prefix: prefix})
			is.NoErr(err)
			k, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "h", Env: authkit.EnvTest})
			is.NoErr(err)
			is.True(strings.HasPrefix(secret, prefix+"_test_"))
			is.Equal(k.Hint, secret[:len(prefix)+len("_test_")+4])
			is.True(svc.LooksLikeKey(secret))
			_, err = svc.VerifyKey(ctx, secret)
			is.NoErr(err)
		})
	}
}

func TestLooks_TellsKeysFromOtherCredentials(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, memory.New())
	_, live := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "live"})
	_, test := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "test", Env: authkit.EnvTest})
	is.True(f.svc.LooksLikeKey(live))
	is.True(f.svc.LooksLikeKey(test))
	is.True(!f.svc.LooksLikeKey("eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.e30.c2ln"))
	is.True(!f.svc.LooksLikeKey("rt_" + live[len("ak_live_"):]))
	is.True(!f.svc.LooksLikeKey(strings.ToUpper(live)))
}

func TestCheckHandle(t *testing.T) {
	is := is.New(t)
	is.NoErr(keys.CheckHandle("ci-bot_2"))
	is.NoErr(keys.CheckHandle(strings.Repeat("a", 64)))
	for _, h := range []string{"", strings.Repeat("a", 65), "A", "a b", "a/b", "a.b"} {
		err := keys.CheckHandle(h)
		var fe *authkit.FieldError
		is.True(errors.As(err, &fe))
		is.Equal(fe.Field, "handle")
	}
}

// TestCachedKey: a key verified with its current secret is answered from
// the cache, as a copy; a key not verified, deleted, or known here only by
// a secret rotated away is not.
func TestCachedKey(t *testing.T) {
	eachStore(t, func(t *testing.T, f fixture) {
		is := is.New(t)
		k, secret := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h", Scopes: []string{"read"}})
		_, _, ok := f.svc.CachedKey(k.ID)
		is.True(!ok) // never verified here
		before := f.clock.Now()
		_, err := f.svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		got, read, ok := f.svc.CachedKey(k.ID)
		is.True(ok)
		is.Equal(got.ID, k.ID)
		is.True(!read.Before(before) && !read.After(f.clock.Now())) // when the store was read
		got.Scopes[0] = "changed"
		again, _, _ := f.svc.CachedKey(k.ID)
		is.Equal(again.Scopes, []string{"read"}) // a copy

		// Rotated with a grace, and verified with the old secret only: its
		// entry's key ends with the grace, which is not the key's.
		_, _, err = f.svc.Rotate(ctx, "a", k.ID, time.Hour)
		is.NoErr(err)
		_, err = f.svc.VerifyKey(ctx, secret)
		is.NoErr(err)
		_, _, ok = f.svc.CachedKey(k.ID)
		is.True(!ok)

		k2, s2 := mustCreate(t, f, authkit.KeyRequest{Owner: "a", Handle: "h2"})
		_, err = f.svc.VerifyKey(ctx, s2)
		is.NoErr(err)
		is.NoErr(f.svc.Delete(ctx, "a", k2.ID))
		_, _, ok = f.svc.CachedKey(k2.ID)
		is.True(!ok) // forgotten with the deletion
	})
}
