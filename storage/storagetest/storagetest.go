// Package storagetest is the conformance suite every authkit storage
// backend passes. A backend's own test is a few lines:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) authkit.Store { return newStore(t) })
//	}
//	func TestConcurrency(t *testing.T) {
//		storagetest.RunConcurrency(t, func(t *testing.T) authkit.Store { return newStore(t) })
//	}
//
// Each subtest gets a fresh store from newStore, which registers its own
// cleanup with t.Cleanup. Errors are compared with errors.Is, so backends
// may wrap them.
package storagetest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authkit/authkit"
	"github.com/google/uuid"
	"github.com/matryer/is"
)

// NewStore makes a fresh, empty store for one subtest.
type NewStore func(t *testing.T) authkit.Store

// T0 is the base time of the suite: in UTC, with microseconds.
var T0 = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

var ctx = context.Background()

func id() string { return uuid.Must(uuid.NewV7()).String() }

func hash() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// NewKey returns a key for owner with handle, and a first secret for it.
func NewKey(owner, handle string) (*authkit.Key, *authkit.KeySecret) {
	k := &authkit.Key{ID: id(), Owner: owner, Handle: handle, Alias: "alias " + handle, Env: authkit.EnvLive,
		Scopes: []string{"videos:read", "videos:write"}, Hint: "ak_live_Ab3d", CreatedAt: T0}
	return k, &authkit.KeySecret{Hash: hash(), KeyID: k.ID, CreatedAt: T0}
}

// NewSession returns a session of kind for key named name.
func NewSession(k *authkit.Key, kind authkit.SessionKind, name string) *authkit.Session {
	return &authkit.Session{ID: id(), Kind: kind, KeyID: k.ID, Owner: k.Owner, Name: name, Scopes: []string{"videos:read"},
		CreatedAt: T0, ExpiresAt: T0.Add(time.Hour), TokenSealed: []byte("sealed"), TokenID: "jti-1", TokenExpiresAt: T0.Add(time.Hour)}
}

func mustKey(t *testing.T, s authkit.Store, owner, handle string) (*authkit.Key, *authkit.KeySecret) {
	t.Helper()
	k, sec := NewKey(owner, handle)
	if err := s.CreateKey(ctx, k, sec); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k, sec
}

type test struct {
	name string
	fn   func(t *testing.T, s authkit.Store)
}

// Run runs the conformance suite: one subtest per behaviour, each on a
// fresh store.
func Run(t *testing.T, newStore NewStore) {
	for _, group := range [][]test{keyTests, sessionTests, refreshTests, signingTests, usageTests, feedTests, scopeTests, auditTests, sealedTests, otherTests} {
		for _, tc := range group {
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
		}
	}
}

var keyTests = []test{
	{"Key/UpdateAliasDisabledAndPolicy", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, sec := mustKey(t, s, "alice", "ci")
		published, stop := recordRevocations(s)
		defer stop()
		set := func(owner string, fn func(k *authkit.Key)) error {
			u := *k
			u.Owner = owner
			fn(&u)
			return s.UpdateKey(ctx, &u)
		}
		policy := authkit.Policy{
			RateLimits: []authkit.RateLimit{{Name: "burst", Limit: 5, Window: 10 * time.Second, Cost: 2}},
			Credits:    &authkit.Credits{Initial: 100, RefillAmount: 50, RefillEvery: time.Hour},
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")},
			Metadata:   json.RawMessage(`{"plan":"pro"}`),
		}
		is.NoErr(set("alice", func(k *authkit.Key) { k.Disabled, k.Alias, k.Policy = true, "renamed", policy }))
		got, err := s.KeyByID(ctx, k.ID)
		is.NoErr(err)
		is.True(got.Disabled)
		is.Equal(got.Alias, "renamed")
		is.Equal(got.Policy, policy)
		is.True(errors.Is(got.Check(T0), authkit.ErrDisabled))
		got, _, err = s.KeyBySecret(ctx, sec.Hash)
		is.NoErr(err)
		is.True(got.Disabled)
		is.Equal(got.Policy, policy)
		got.Policy.RateLimits[0].Limit = 99                                                              // a copy
		is.True(errors.Is(set("bob", func(k *authkit.Key) { k.Disabled = false }), authkit.ErrNotFound)) // not bob's
		is.NoErr(set("alice", func(k *authkit.Key) { k.Disabled, k.Policy = false, authkit.Policy{} }))
		got, err = s.Key(ctx, "alice", k.ID)
		is.NoErr(err)
		is.True(!got.Disabled)
		is.True(got.Policy.IsZero())
		if _, ok := s.(authkit.Notifier); ok {
			is.Equal(published(), []string{k.ID, k.ID}) // a ChangedKey each time
		}
		is.NoErr(s.RevokeKey(ctx, "alice", k.ID, T0))
		is.True(errors.Is(set("alice", func(k *authkit.Key) { k.Disabled = true }), authkit.ErrNotFound)) // deleted
	}},
	{"Key/CreateWithPolicy", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, sec := NewKey("alice", "metered")
		k.Policy = authkit.Policy{Credits: &authkit.Credits{Initial: 3}, Metadata: json.RawMessage(`{"a":1}`)}
		is.NoErr(s.CreateKey(ctx, k, sec))
		got, err := s.Key(ctx, "alice", k.ID)
		is.NoErr(err)
		is.Equal(got.Policy, k.Policy)
	}},
	{"Key/CreateAndGet", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, sec := NewKey("alice", "ci")
		k.ExpiresAt = T0.Add(time.Hour)
		k.Recoverable = true
		sec.Sealed = []byte{1, 2, 3}
		is.NoErr(s.CreateKey(ctx, k, sec))
		got, err := s.Key(ctx, "alice", k.ID)
		is.NoErr(err)
		is.Equal(got.ID, k.ID)
		is.Equal(got.Handle, "ci")
		is.Equal(got.Alias, "alias ci")
		is.Equal(got.Env, authkit.EnvLive)
		is.Equal(got.Scopes, []string{"videos:read", "videos:write"})
		is.Equal(got.Hint, "ak_live_Ab3d")
		is.True(got.Recoverable)
		is.True(got.CreatedAt.Equal(T0))
		is.Equal(got.CreatedAt.Location(), time.UTC)
		is.True(got.ExpiresAt.Equal(T0.Add(time.Hour)))
		is.True(got.LastUsedAt.IsZero())
		is.True(got.RevokedAt.IsZero())
		byHandle, err := s.KeyByHandle(ctx, "alice", "ci")
		is.NoErr(err)
		is.Equal(byHandle.ID, k.ID)
		byID, err := s.KeyByID(ctx, k.ID)
		is.NoErr(err)
		is.Equal(byID.Owner, "alice")
		cur, err := s.CurrentKeySecret(ctx, "alice", k.ID)
		is.NoErr(err)
		is.Equal(cur.Sealed, []byte{1, 2, 3})
		is.Equal(cur.Hash, sec.Hash)
	}},
	{"Key/BySecret", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, sec := mustKey(t, s, "alice", "ci")
		got, gs, err := s.KeyBySecret(ctx, sec.Hash)
		is.NoErr(err)
		is.Equal(got.ID, k.ID)
		is.Equal(gs.KeyID, k.ID)
		is.True(gs.ExpiresAt.IsZero())
		_, _, err = s.KeyBySecret(ctx, hash())
		is.True(errors.Is(err, authkit.ErrNotFound))
	}},
	{"Key/NoScopesComeBackEmpty", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		for i, sc := range [][]string{nil, {}} {
			k, sec := NewKey("alice", fmt.Sprint("h", i))
			k.Scopes = sc
			is.NoErr(s.CreateKey(ctx, k, sec))
			got, err := s.KeyByID(ctx, k.ID)
			is.NoErr(err)
			is.Equal(len(got.Scopes), 0)
		}
	}},
	{"Key/DuplicateHandleConflictsPerOwner", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		mustKey(t, s, "alice", "ci")
		k2, sec2 := NewKey("alice", "ci")
		is.True(errors.Is(s.CreateKey(ctx, k2, sec2), authkit.ErrConflict))
		_, err := s.KeyByID(ctx, k2.ID)
		is.True(errors.Is(err, authkit.ErrNotFound)) // nothing half-written
		_, _, err = s.KeyBySecret(ctx, sec2.Hash)
		is.True(errors.Is(err, authkit.ErrNotFound))
		mustKey(t, s, "bob", "ci") // another owner may use it
	}},
	{"Key/DuplicateSecretHashConflicts", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		_, sec := mustKey(t, s, "alice", "a")
		k2, sec2 := NewKey("alice", "b")
		sec2.Hash = sec.Hash
		is.True(errors.Is(s.CreateKey(ctx, k2, sec2), authkit.ErrConflict))
		_, err := s.KeyByID(ctx, k2.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
	}},
	{"Key/RevokeFreesHandleAndHidesKey", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, sec := mustKey(t, s, "alice", "ci")
		is.NoErr(s.RevokeKey(ctx, "alice", k.ID, T0.Add(time.Minute)))
		_, err := s.Key(ctx, "alice", k.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = s.KeyByHandle(ctx, "alice", "ci")
		is.True(errors.Is(err, authkit.ErrNotFound))
		got, _, err := s.KeyBySecret(ctx, sec.Hash) // still found, marked revoked
		is.NoErr(err)
		is.True(got.RevokedAt.Equal(T0.Add(time.Minute)))
		got, err = s.KeyByID(ctx, k.ID)
		is.NoErr(err)
		is.True(!got.RevokedAt.IsZero())
		is.True(errors.Is(s.RevokeKey(ctx, "alice", k.ID, T0), authkit.ErrNotFound))
		mustKey(t, s, "alice", "ci") // handle reusable
	}},
	{"Key/OwnerIsolation", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		_, err := s.Key(ctx, "bob", k.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = s.KeyByHandle(ctx, "bob", "ci")
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = s.CurrentKeySecret(ctx, "bob", k.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, next := NewKey("bob", "x")
		is.True(errors.Is(s.RotateKey(ctx, "bob", k.ID, next, "ak_live_Zz9y", T0), authkit.ErrNotFound))
		is.True(errors.Is(s.RevokeKey(ctx, "bob", k.ID, T0), authkit.ErrNotFound))
		list, err := s.ListKeys(ctx, "bob", authkit.Page{})
		is.NoErr(err)
		is.Equal(len(list), 0)
		got, err := s.Key(ctx, "alice", k.ID) // untouched
		is.NoErr(err)
		is.True(got.RevokedAt.IsZero())
	}},
	{"Key/ListPaginatesInIDOrder", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		var ids []string
		for i := range 7 {
			k, _ := mustKey(t, s, "alice", fmt.Sprintf("k%d", i))
			ids = append(ids, k.ID)
		}
		mustKey(t, s, "bob", "other")
		revoked, _ := mustKey(t, s, "alice", "gone")
		is.NoErr(s.RevokeKey(ctx, "alice", revoked.ID, T0))
		var got []string
		p := authkit.Page{Limit: 3}
		for {
			page, err := s.ListKeys(ctx, "alice", p)
			is.NoErr(err)
			for _, k := range page {
				got = append(got, k.ID)
			}
			if len(page) < 3 {
				break
			}
			p.After = page[len(page)-1].ID
		}
		is.Equal(got, ids)
		all, err := s.ListKeys(ctx, "alice", authkit.Page{})
		is.NoErr(err)
		is.Equal(len(all), 7)
	}},
	{"Key/RotateKeepsOldSecretUntilGrace", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, old := mustKey(t, s, "alice", "ci")
		next := &authkit.KeySecret{Hash: hash(), KeyID: k.ID, CreatedAt: T0.Add(time.Minute), Sealed: []byte("new")}
		is.NoErr(s.RotateKey(ctx, "alice", k.ID, next, "ak_live_Zz9y", T0.Add(2*time.Minute)))
		got, err := s.Key(ctx, "alice", k.ID)
		is.NoErr(err)
		is.Equal(got.Hint, "ak_live_Zz9y") // the new secret's hint
		_, os, err := s.KeyBySecret(ctx, old.Hash)
		is.NoErr(err)
		is.True(os.ExpiresAt.Equal(T0.Add(2 * time.Minute)))
		_, ns, err := s.KeyBySecret(ctx, next.Hash)
		is.NoErr(err)
		is.True(ns.ExpiresAt.IsZero())
		cur, err := s.CurrentKeySecret(ctx, "alice", k.ID)
		is.NoErr(err)
		is.Equal(cur.Hash, next.Hash)
		is.Equal(cur.Sealed, []byte("new"))
		dup := &authkit.KeySecret{Hash: next.Hash, KeyID: k.ID, CreatedAt: T0}
		is.True(errors.Is(s.RotateKey(ctx, "alice", k.ID, dup, "ak_live_Xx1x", T0), authkit.ErrConflict))
		got, err = s.Key(ctx, "alice", k.ID)
		is.NoErr(err)
		is.Equal(got.Hint, "ak_live_Zz9y") // a failed rotation changes nothing
	}},
	{"Key/TouchOnlyMovesForward", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		is.NoErr(s.TouchKeys(ctx, map[string]time.Time{k.ID: T0.Add(time.Hour)}))
		is.NoErr(s.TouchKeys(ctx, map[string]time.Time{k.ID: T0.Add(time.Minute), "unknown": T0}))
		is.NoErr(s.TouchKeys(ctx, nil))
		got, err := s.KeyByID(ctx, k.ID)
		is.NoErr(err)
		is.True(got.LastUsedAt.Equal(T0.Add(time.Hour)))
	}},
	{"Key/TouchABatchOfManyKeys", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		uses := map[string]time.Time{}
		var ids []string
		for i := range 450 { // more than one statement's worth on SQL backends
			k, _ := mustKey(t, s, "alice", fmt.Sprint("k", i))
			uses[k.ID] = T0.Add(time.Duration(i) * time.Second)
			ids = append(ids, k.ID)
		}
		is.NoErr(s.TouchKeys(ctx, uses))
		for i, id := range ids {
			got, err := s.KeyByID(ctx, id)
			is.NoErr(err)
			is.True(got.LastUsedAt.Equal(T0.Add(time.Duration(i) * time.Second)))
		}
	}},
	{"Key/RotatePublishesChangedKey", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		var mu sync.Mutex
		var got []authkit.Revocation
		cancel := s.Subscribe(func(r authkit.Revocation) { mu.Lock(); got = append(got, r); mu.Unlock() })
		defer cancel()
		k, _ := mustKey(t, s, "alice", "ci")
		is.NoErr(s.RotateKey(ctx, "alice", k.ID, &authkit.KeySecret{Hash: hash(), KeyID: k.ID, CreatedAt: T0}, "ak_live_Zz9y", T0))
		mu.Lock()
		is.Equal(got, []authkit.Revocation{{Kind: authkit.ChangedKey, ID: k.ID}})
		mu.Unlock()
	}},
	{"Key/ReturnsCopies", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		k.Scopes[0] = "mutated-after-create"
		got, err := s.KeyByID(ctx, k.ID)
		is.NoErr(err)
		is.Equal(got.Scopes[0], "videos:read")
		got.Scopes[0] = "mutated"
		again, _ := s.KeyByID(ctx, k.ID)
		is.Equal(again.Scopes[0], "videos:read")
	}},
	{"Key/TimesInUTC", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, sec := NewKey("alice", "tz")
		k.CreatedAt = T0.In(time.FixedZone("X", 5*3600))
		is.NoErr(s.CreateKey(ctx, k, sec))
		got, err := s.KeyByID(ctx, k.ID)
		is.NoErr(err)
		is.Equal(got.CreatedAt.Location(), time.UTC)
		is.True(got.CreatedAt.Equal(T0))
	}},
}

var sessionTests = []test{
	{"Session/EndKeySessionsCapsThenRevokes", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		other, _ := mustKey(t, s, "alice", "other")
		var ids []string
		for i := range 3 { // created at T0, T0+1m, T0+2m; each expires an hour later
			sess := NewSession(k, authkit.SessionGrant, fmt.Sprint("s", i))
			sess.CreatedAt, sess.ExpiresAt = T0.Add(time.Duration(i)*time.Minute), T0.Add(time.Hour+time.Duration(i)*time.Minute)
			is.NoErr(s.CreateSession(ctx, sess, nil))
			ids = append(ids, sess.ID)
		}
		os := NewSession(other, authkit.SessionGrant, "x")
		is.NoErr(s.CreateSession(ctx, os, nil))
		published, stop := recordRevocations(s)
		defer stop()
		// A grace: the two made before T0+90s now end at T0+30m.
		end := T0.Add(30 * time.Minute)
		n, err := s.EndKeySessions(ctx, k.ID, T0.Add(90*time.Second), end)
		is.NoErr(err)
		is.Equal(n, 2)
		for i, id := range ids {
			sess, err := s.Session(ctx, id)
			is.NoErr(err)
			is.True(sess.RevokedAt.IsZero())
			is.Equal(sess.ExpiresAt.Equal(end), i < 2)
		}
		is.Equal(len(published()), 0) // nothing is dead yet
		// No grace: every one made before T0+3m is revoked now.
		n, err = s.EndKeySessions(ctx, k.ID, T0.Add(3*time.Minute), T0.Add(3*time.Minute))
		is.NoErr(err)
		is.Equal(n, 3)
		for _, id := range ids {
			sess, err := s.Session(ctx, id)
			is.NoErr(err)
			is.True(!sess.RevokedAt.IsZero())
		}
		sess, err := s.Session(ctx, os.ID)
		is.NoErr(err)
		is.True(sess.RevokedAt.IsZero()) // another key's
		if _, ok := s.(authkit.Notifier); ok {
			is.Equal(len(published()), 3)
		}
	}},
	{"Session/EndOldestKeepsTheNewest", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		other, _ := mustKey(t, s, "alice", "other")
		var ids []string
		for i := range 5 { // IDs are UUIDv7: creation order
			kind := authkit.SessionGrant
			if i%2 == 1 {
				kind = authkit.SessionLogin
			}
			sess := NewSession(k, kind, fmt.Sprint("s", i))
			is.NoErr(s.CreateSession(ctx, sess, nil))
			ids = append(ids, sess.ID)
		}
		is.NoErr(s.CreateSession(ctx, NewSession(other, authkit.SessionGrant, "x"), nil))
		published, stop := recordRevocations(s)
		defer stop()
		// Not over 6, nor 5: nothing ends, and the key holds five.
		n, err := s.EndOldestSessions(ctx, k.ID, 6, 2, T0)
		is.NoErr(err)
		is.Equal(n, 5)
		n, err = s.EndOldestSessions(ctx, k.ID, 5, 2, T0)
		is.NoErr(err)
		is.Equal(n, 5)
		n, err = s.EndOldestSessions(ctx, k.ID, 4, 2, T0) // over 4: down to 2
		is.NoErr(err)
		is.Equal(n, 2)
		for i, id := range ids {
			sess, err := s.Session(ctx, id)
			is.NoErr(err)
			is.Equal(sess.RevokedAt.IsZero(), i >= 3) // the two newest live on
		}
		// A login name of an ended session is free again.
		is.NoErr(s.CreateSession(ctx, NewSession(k, authkit.SessionLogin, "s1"), nil))
		list, err := s.ListSessions(ctx, "alice", authkit.Page{})
		is.NoErr(err)
		is.Equal(len(list), 4) // two of k's, the new one, and other's
		if _, ok := s.(authkit.Notifier); ok {
			is.Equal(len(published()), 3) // each ended session, once
		}
	}},
	{"Session/UsersWithoutAKeyEachHaveTheirOwnLoginSessions", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		user := &authkit.Key{Owner: "alice"} // no ID: a user signed in without a key
		a := NewSession(user, authkit.SessionLogin, "laptop")
		is.NoErr(s.CreateSession(ctx, a, nil))
		b := NewSession(&authkit.Key{Owner: "bob"}, authkit.SessionLogin, "laptop")
		is.NoErr(s.CreateSession(ctx, b, nil)) // same name, another user
		is.True(errors.Is(s.CreateSession(ctx, NewSession(user, authkit.SessionLogin, "laptop"), nil), authkit.ErrConflict))
		got, err := s.LoginSession(ctx, "alice", "", "laptop")
		is.NoErr(err)
		is.Equal(got.ID, a.ID)
		is.Equal(got.KeyID, "")
		got, err = s.LoginSession(ctx, "bob", "", "laptop")
		is.NoErr(err)
		is.Equal(got.ID, b.ID)
		k, _ := mustKey(t, s, "alice", "ci") // and a key's session of that name is another one
		c := NewSession(k, authkit.SessionLogin, "laptop")
		is.NoErr(s.CreateSession(ctx, c, nil))
		got, err = s.LoginSession(ctx, "alice", k.ID, "laptop")
		is.NoErr(err)
		is.Equal(got.ID, c.ID)
	}},
	{"Session/CreateGetLogin", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		sess := NewSession(k, authkit.SessionLogin, "worker")
		is.NoErr(s.CreateSession(ctx, sess, nil))
		got, err := s.Session(ctx, sess.ID)
		is.NoErr(err)
		is.Equal(got.Kind, authkit.SessionLogin)
		is.Equal(got.Name, "worker")
		is.Equal(got.TokenSealed, []byte("sealed"))
		is.Equal(got.TokenID, "jti-1")
		is.True(got.ExpiresAt.Equal(T0.Add(time.Hour)))
		is.Equal(got.ExpiresAt.Location(), time.UTC)
		byName, err := s.LoginSession(ctx, "alice", k.ID, "worker")
		is.NoErr(err)
		is.Equal(byName.ID, sess.ID)
		_, err = s.LoginSession(ctx, "alice", k.ID, "other")
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = s.LoginSession(ctx, "bob", k.ID, "worker")
		is.True(errors.Is(err, authkit.ErrNotFound)) // another owner's name
		_, err = s.Session(ctx, id())
		is.True(errors.Is(err, authkit.ErrNotFound))
	}},
	{"Session/OneUnrevokedLoginPerKeyAndName", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		k2, _ := mustKey(t, s, "alice", "ci2")
		first := NewSession(k, authkit.SessionLogin, "")
		is.NoErr(s.CreateSession(ctx, first, nil))
		is.True(errors.Is(s.CreateSession(ctx, NewSession(k, authkit.SessionLogin, ""), nil), authkit.ErrConflict))
		is.NoErr(s.CreateSession(ctx, NewSession(k2, authkit.SessionLogin, ""), nil)) // another key
		is.NoErr(s.CreateSession(ctx, NewSession(k, authkit.SessionGrant, ""), nil))  // grants never conflict
		is.NoErr(s.CreateSession(ctx, NewSession(k, authkit.SessionGrant, ""), nil))
		is.NoErr(s.RevokeSession(ctx, "alice", first.ID, T0))
		is.NoErr(s.CreateSession(ctx, NewSession(k, authkit.SessionLogin, ""), nil)) // free after revocation
		dup := NewSession(k, authkit.SessionGrant, "")
		dup.ID = first.ID
		is.True(errors.Is(s.CreateSession(ctx, dup, nil), authkit.ErrConflict))
	}},
	{"Session/ReplaceTokenIsCompareAndSwap", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		sess := NewSession(k, authkit.SessionLogin, "w")
		is.NoErr(s.CreateSession(ctx, sess, nil))
		is.True(errors.Is(s.ReplaceSessionToken(ctx, sess.ID, "wrong", []byte("x"), "jti-2", T0, T0), authkit.ErrConflict))
		is.NoErr(s.ReplaceSessionToken(ctx, sess.ID, "jti-1", []byte("new"), "jti-2", T0.Add(2*time.Hour), T0.Add(3*time.Hour)))
		got, err := s.Session(ctx, sess.ID)
		is.NoErr(err)
		is.Equal(got.TokenSealed, []byte("new"))
		is.Equal(got.TokenID, "jti-2")
		is.True(got.TokenExpiresAt.Equal(T0.Add(2 * time.Hour)))
		is.True(got.ExpiresAt.Equal(T0.Add(3 * time.Hour)))
		is.True(errors.Is(s.ReplaceSessionToken(ctx, sess.ID, "jti-1", nil, "jti-3", T0, T0), authkit.ErrConflict))
		is.NoErr(s.RevokeSession(ctx, "alice", sess.ID, T0))
		is.True(errors.Is(s.ReplaceSessionToken(ctx, sess.ID, "jti-2", nil, "jti-3", T0, T0), authkit.ErrNotFound))
		is.True(errors.Is(s.ReplaceSessionToken(ctx, id(), "", nil, "x", T0, T0), authkit.ErrNotFound))
	}},
	{"Session/ListByOwnerPaginates", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		kb, _ := mustKey(t, s, "bob", "ci")
		var ids []string
		for range 5 {
			sess := NewSession(k, authkit.SessionGrant, "")
			is.NoErr(s.CreateSession(ctx, sess, nil))
			ids = append(ids, sess.ID)
		}
		is.NoErr(s.CreateSession(ctx, NewSession(kb, authkit.SessionGrant, ""), nil))
		gone := NewSession(k, authkit.SessionGrant, "")
		is.NoErr(s.CreateSession(ctx, gone, nil))
		is.NoErr(s.RevokeSession(ctx, "alice", gone.ID, T0))
		p1, err := s.ListSessions(ctx, "alice", authkit.Page{Limit: 3})
		is.NoErr(err)
		is.Equal(len(p1), 3)
		p2, err := s.ListSessions(ctx, "alice", authkit.Page{Limit: 3, After: p1[2].ID})
		is.NoErr(err)
		is.Equal(len(p2), 2)
		var got []string
		for _, x := range append(p1, p2...) {
			got = append(got, x.ID)
		}
		is.Equal(got, ids)
	}},
	{"Session/RevokeOwnerIsolationAndIdempotence", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		sess := NewSession(k, authkit.SessionLogin, "")
		is.NoErr(s.CreateSession(ctx, sess, nil))
		is.True(errors.Is(s.RevokeSession(ctx, "bob", sess.ID, T0), authkit.ErrNotFound))
		got, _ := s.Session(ctx, sess.ID)
		is.True(got.RevokedAt.IsZero())
		is.NoErr(s.RevokeSession(ctx, "alice", sess.ID, T0.Add(time.Second)))
		is.NoErr(s.RevokeSession(ctx, "alice", sess.ID, T0.Add(time.Hour)))
		got, _ = s.Session(ctx, sess.ID)
		is.True(got.RevokedAt.Equal(T0.Add(time.Second)))
		_, err := s.LoginSession(ctx, "alice", k.ID, "")
		is.True(errors.Is(err, authkit.ErrNotFound))
	}},
}

// mustFamily creates a key, a grant session and its first refresh token.
func mustFamily(t *testing.T, s authkit.Store) *authkit.RefreshToken {
	t.Helper()
	k, _ := mustKey(t, s, "alice", "fam-"+id()[24:])
	return mustFamilyOf(t, s, NewSession(k, authkit.SessionGrant, ""))
}

// mustFamilyOf creates a grant session like sess (a new ID, so that one
// session may seed several families) with a first refresh token.
func mustFamilyOf(t *testing.T, s authkit.Store, like *authkit.Session) *authkit.RefreshToken {
	t.Helper()
	sess := *like
	sess.ID, sess.Kind, sess.Name = id(), authkit.SessionGrant, ""
	rt := newRefresh(sess.ID, sess.KeyID)
	if err := s.CreateSession(ctx, &sess, rt); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return rt
}

func newRefresh(sessID, keyID string) *authkit.RefreshToken {
	return &authkit.RefreshToken{Hash: hash(), SessionID: sessID, KeyID: keyID, CreatedAt: T0, ExpiresAt: T0.Add(24 * time.Hour)}
}

var refreshTests = []test{
	{"Refresh/CreatedWithItsSessionGetDuplicate", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "ci")
		sess := NewSession(k, authkit.SessionGrant, "")
		rt := newRefresh(sess.ID, k.ID)
		is.NoErr(s.CreateSession(ctx, sess, rt))
		got, err := s.RefreshToken(ctx, rt.Hash)
		is.NoErr(err)
		is.Equal(got.SessionID, sess.ID)
		is.Equal(got.KeyID, k.ID)
		is.True(got.SpentAt.IsZero())
		is.True(got.ExpiresAt.Equal(T0.Add(24 * time.Hour)))
		// A second session with the same first token: conflict, and neither
		// the session nor anything else is written.
		again := NewSession(k, authkit.SessionGrant, "")
		is.True(errors.Is(s.CreateSession(ctx, again, rt), authkit.ErrConflict))
		_, err = s.Session(ctx, again.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = s.RefreshToken(ctx, hash())
		is.True(errors.Is(err, authkit.ErrNotFound))
	}},
	{"Refresh/SpendOnce", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		rt := mustFamily(t, s)
		child := newRefresh(rt.SessionID, rt.KeyID)
		is.NoErr(s.SpendRefreshToken(ctx, rt.Hash, T0.Add(time.Minute), []byte("child"), child))
		got, err := s.RefreshToken(ctx, rt.Hash)
		is.NoErr(err)
		is.True(got.SpentAt.Equal(T0.Add(time.Minute)))
		is.Equal(got.ChildSealed, []byte("child"))
		_, err = s.RefreshToken(ctx, child.Hash)
		is.NoErr(err)
		child2 := newRefresh("s1", "k1")
		is.True(errors.Is(s.SpendRefreshToken(ctx, rt.Hash, T0, []byte("x"), child2), authkit.ErrConflict))
		_, err = s.RefreshToken(ctx, child2.Hash)
		is.True(errors.Is(err, authkit.ErrNotFound)) // the loser wrote nothing
		got, _ = s.RefreshToken(ctx, rt.Hash)
		is.Equal(got.ChildSealed, []byte("child"))
		is.True(errors.Is(s.SpendRefreshToken(ctx, hash(), T0, nil, newRefresh("s1", "k1")), authkit.ErrNotFound))
	}},
	{"Refresh/CleanupErasesTheSealedPairAfterTheGrace", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		rt := mustFamily(t, s)
		spent := T0.Add(time.Minute)
		is.NoErr(s.SpendRefreshToken(ctx, rt.Hash, spent, []byte("child"), newRefresh(rt.SessionID, rt.KeyID)))
		_, err := s.Cleanup(ctx, spent.Add(authkit.MaxRefreshGrace-time.Second)) // inside the window: kept
		is.NoErr(err)
		got, _ := s.RefreshToken(ctx, rt.Hash)
		is.Equal(got.ChildSealed, []byte("child"))
		_, err = s.Cleanup(ctx, spent.Add(authkit.MaxRefreshGrace))
		is.NoErr(err)
		got, err = s.RefreshToken(ctx, rt.Hash)
		is.NoErr(err) // the spent token stays, for reuse detection
		is.Equal(len(got.ChildSealed), 0)
		is.True(got.SpentAt.Equal(spent))
	}},
}

func signingKey(created time.Time) *authkit.SigningKey {
	return &authkit.SigningKey{ID: id(), Algorithm: "EdDSA", Sealed: []byte("sealed"), Public: []byte("pub"), CreatedAt: created}
}

var signingTests = []test{
	{"SigningKey/CreateListRetire", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		a, b := signingKey(T0), signingKey(T0.Add(time.Hour))
		is.NoErr(s.CreateSigningKey(ctx, b))
		is.NoErr(s.CreateSigningKey(ctx, a))
		is.True(errors.Is(s.CreateSigningKey(ctx, a), authkit.ErrConflict))
		list, err := s.SigningKeys(ctx)
		is.NoErr(err)
		is.Equal(len(list), 2)
		is.Equal(list[0].ID, a.ID) // oldest first
		is.Equal(list[0].Sealed, []byte("sealed"))
		is.Equal(list[0].Public, []byte("pub"))
		is.Equal(list[0].Algorithm, "EdDSA")
		is.NoErr(s.RetireSigningKey(ctx, a.ID, T0.Add(2*time.Hour), T0.Add(26*time.Hour)))
		list, _ = s.SigningKeys(ctx)
		is.True(list[0].RetiredAt.Equal(T0.Add(2 * time.Hour)))
		is.True(list[0].ExpiresAt.Equal(T0.Add(26 * time.Hour)))
		is.True(errors.Is(s.RetireSigningKey(ctx, id(), T0, T0), authkit.ErrNotFound))

		// Revoked: it expires at once (the retired one keeps its retirement);
		// the revocation is published.
		published, stop := recordRevocations(s)
		defer stop()
		is.NoErr(s.RevokeSigningKey(ctx, b.ID, T0.Add(3*time.Hour)))
		is.NoErr(s.RevokeSigningKey(ctx, a.ID, T0.Add(3*time.Hour)))
		list, _ = s.SigningKeys(ctx)
		is.True(list[0].RetiredAt.Equal(T0.Add(2 * time.Hour)))
		is.True(list[0].ExpiresAt.Equal(T0.Add(3 * time.Hour)))
		is.True(list[1].RetiredAt.Equal(T0.Add(3 * time.Hour)))
		is.True(list[1].ExpiresAt.Equal(T0.Add(3 * time.Hour)))
		is.True(errors.Is(s.RevokeSigningKey(ctx, id(), T0), authkit.ErrNotFound))
		if _, ok := s.(authkit.Notifier); ok {
			is.Equal(published(), []string{b.ID, a.ID})
		}
	}},
}

var otherTests = []test{
	{"Notifier/RevocationsArePublishedBeforeReturn", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		var mu sync.Mutex
		var got []authkit.Revocation
		cancel := s.Subscribe(func(r authkit.Revocation) { mu.Lock(); got = append(got, r); mu.Unlock() })
		k, _ := mustKey(t, s, "alice", "ci")
		sess := NewSession(k, authkit.SessionLogin, "")
		is.NoErr(s.CreateSession(ctx, sess, nil))
		is.NoErr(s.RevokeSession(ctx, "alice", sess.ID, T0))
		is.NoErr(s.RevokeKey(ctx, "alice", k.ID, T0))
		mu.Lock()
		is.Equal(got, []authkit.Revocation{{Kind: authkit.RevokedSession, ID: sess.ID}, {Kind: authkit.RevokedKey, ID: k.ID}})
		mu.Unlock()
		cancel()
		k2, _ := mustKey(t, s, "alice", "ci2")
		is.NoErr(s.RevokeKey(ctx, "alice", k2.ID, T0))
		mu.Lock()
		is.Equal(len(got), 2)
		mu.Unlock()
	}},
	{"Cleanup/DeletesOnlyWhatExpired", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		now := T0.Add(48 * time.Hour)
		k, old := mustKey(t, s, "alice", "ci")
		next := &authkit.KeySecret{Hash: hash(), KeyID: k.ID, CreatedAt: T0}
		is.NoErr(s.RotateKey(ctx, "alice", k.ID, next, "ak_live_Zz9y", T0.Add(time.Minute))) // old secret expires
		live := NewSession(k, authkit.SessionGrant, "")
		live.ExpiresAt = now.Add(time.Hour)
		dead := NewSession(k, authkit.SessionGrant, "") // expires T0+1h
		deadRT := newRefresh(live.ID, k.ID)             // expires T0+24h
		orphanRT := newRefresh(dead.ID, k.ID)
		orphanRT.ExpiresAt = now.Add(time.Hour) // dies with its session
		is.NoErr(s.CreateSession(ctx, live, deadRT))
		is.NoErr(s.CreateSession(ctx, dead, orphanRT))
		liveRT := newRefresh(live.ID, k.ID)
		liveRT.ExpiresAt = now.Add(time.Hour)
		is.NoErr(s.SpendRefreshToken(ctx, deadRT.Hash, T0.Add(time.Hour), nil, liveRT))
		sk, oldSK := signingKey(T0), signingKey(T0)
		is.NoErr(s.CreateSigningKey(ctx, sk))
		is.NoErr(s.CreateSigningKey(ctx, oldSK))
		is.NoErr(s.RetireSigningKey(ctx, oldSK.ID, T0, T0.Add(time.Hour)))

		n, err := s.Cleanup(ctx, now)
		is.NoErr(err)
		is.Equal(n, 5) // old secret, dead session, deadRT, orphanRT, oldSK
		_, _, err = s.KeyBySecret(ctx, old.Hash)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, _, err = s.KeyBySecret(ctx, next.Hash)
		is.NoErr(err)
		_, err = s.Session(ctx, live.ID)
		is.NoErr(err)
		_, err = s.Session(ctx, dead.ID)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = s.RefreshToken(ctx, liveRT.Hash)
		is.NoErr(err)
		_, err = s.RefreshToken(ctx, deadRT.Hash)
		is.True(errors.Is(err, authkit.ErrNotFound))
		_, err = s.RefreshToken(ctx, orphanRT.Hash)
		is.True(errors.Is(err, authkit.ErrNotFound))
		sks, _ := s.SigningKeys(ctx)
		is.Equal(len(sks), 1)
		is.Equal(sks[0].ID, sk.ID)
		_, err = s.KeyByID(ctx, k.ID)
		is.NoErr(err)
		n, err = s.Cleanup(ctx, now)
		is.NoErr(err)
		is.Equal(n, 0)
	}},
}

// RunConcurrency runs the races every backend must settle: exactly one
// winner among concurrent writers of the same thing.
func RunConcurrency(t *testing.T, newStore NewStore) {
	t.Run("SameHandleOneWinner", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		var wins, conflicts atomic.Int32
		race(50, func() {
			k, sec := NewKey("alice", "same")
			err := s.CreateKey(ctx, k, sec)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, authkit.ErrConflict):
				conflicts.Add(1)
			default:
				t.Errorf("CreateKey: %v", err)
			}
		})
		is.Equal(wins.Load(), int32(1))
		is.Equal(conflicts.Load(), int32(49))
		list, err := s.ListKeys(ctx, "alice", authkit.Page{})
		is.NoErr(err)
		is.Equal(len(list), 1)
	})
	t.Run("SameLoginSessionOneWinner", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		k, _ := mustKey(t, s, "alice", "ci")
		var wins atomic.Int32
		race(100, func() {
			err := s.CreateSession(ctx, NewSession(k, authkit.SessionLogin, "w"), nil)
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, authkit.ErrConflict) {
				t.Errorf("CreateSession: %v", err)
			}
		})
		is.Equal(wins.Load(), int32(1))
	})
	t.Run("SameRefreshTokenSpentOnce", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		rt := mustFamily(t, s)
		var wins atomic.Int32
		race(50, func() {
			err := s.SpendRefreshToken(ctx, rt.Hash, T0, []byte("c"), newRefresh(rt.SessionID, rt.KeyID))
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, authkit.ErrConflict) {
				t.Errorf("SpendRefreshToken: %v", err)
			}
		})
		is.Equal(wins.Load(), int32(1))
	})
	t.Run("ReplaceSessionTokenOneWinner", func(t *testing.T) {
		is := is.New(t)
		s := newStore(t)
		k, _ := mustKey(t, s, "alice", "ci")
		sess := NewSession(k, authkit.SessionLogin, "w")
		is.NoErr(s.CreateSession(ctx, sess, nil))
		var wins atomic.Int32
		race(50, func() {
			err := s.ReplaceSessionToken(ctx, sess.ID, "jti-1", []byte("n"), id(), T0, T0.Add(time.Hour))
			if err == nil {
				wins.Add(1)
			} else if !errors.Is(err, authkit.ErrConflict) {
				t.Errorf("ReplaceSessionToken: %v", err)
			}
		})
		is.Equal(wins.Load(), int32(1))
	})
}

// recordRevocations records the IDs of the revocations s publishes, if it
// is an authkit.Notifier, until stop.
func recordRevocations(s authkit.Store) (ids func() []string, stop func()) {
	var mu sync.Mutex
	var got []string
	stop = func() {}
	if n, ok := s.(authkit.Notifier); ok {
		stop = n.Subscribe(func(r authkit.Revocation) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, r.ID)
		})
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}, stop
}

// race runs fn in n goroutines released at once.
func race(n int, fn func()) {
	var start, done sync.WaitGroup
	start.Add(1)
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			fn()
		}()
	}
	start.Done()
	done.Wait()
}

var auditTests = []test{
	{"Audit/AppendListPagedByOwnerDelete", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		actor := authkit.Actor{Kind: authkit.ActorUser, ID: "alice", Addr: "192.0.2.1", RequestID: "r1"}
		var evs []authkit.AuditEvent
		for i, a := range []authkit.AuditAction{authkit.AuditKeyCreated, authkit.AuditKeyRotated, authkit.AuditKeyDeleted} {
			evs = append(evs, authkit.AuditEvent{ID: id(), At: T0.Add(time.Duration(i) * time.Hour), Owner: "alice", Action: a, Target: "k1", Detail: "d", Actor: actor})
		}
		is.NoErr(s.AppendAudit(ctx, evs[:1]))
		is.NoErr(s.AppendAudit(ctx, evs[1:]))
		is.NoErr(s.AppendAudit(ctx, []authkit.AuditEvent{{ID: id(), At: T0, Owner: "bob", Action: authkit.AuditKeyCreated, Target: "k2", Actor: authkit.Actor{Kind: authkit.ActorSystem}}}))
		is.True(errors.Is(s.AppendAudit(ctx, evs[:1]), authkit.ErrConflict)) // append-only: no rewrite
		twice := authkit.AuditEvent{ID: id(), At: T0, Owner: "alice", Action: authkit.AuditKeyCreated, Target: "k3", Actor: actor}
		is.True(errors.Is(s.AppendAudit(ctx, []authkit.AuditEvent{twice, twice}), authkit.ErrConflict)) // one ID twice in one batch
		got, err := s.AuditLog(ctx, "alice", authkit.Page{})
		is.NoErr(err)
		is.Equal(got, evs) // in order, whole
		page, err := s.AuditLog(ctx, "alice", authkit.Page{Limit: 2})
		is.NoErr(err)
		is.Equal(len(page), 2)
		page, err = s.AuditLog(ctx, "alice", authkit.Page{After: page[1].ID})
		is.NoErr(err)
		is.Equal(page, evs[2:])
		n, err := s.DeleteAudit(ctx, T0.Add(time.Hour))
		is.NoErr(err)
		is.Equal(n, 2) // alice's first and bob's
		got, _ = s.AuditLog(ctx, "alice", authkit.Page{})
		is.Equal(got, evs[1:])
	}},
}

var scopeTests = []test{
	{"Session/ScopesRoundTripEmptyAsEmpty", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		k, _ := mustKey(t, s, "alice", "scoped")
		none := NewSession(k, authkit.SessionGrant, "")
		none.Scopes = []string{}
		some := NewSession(k, authkit.SessionGrant, "")
		some.Scopes = []string{"a", "b"}
		is.NoErr(s.CreateSession(ctx, none, nil))
		is.NoErr(s.CreateSession(ctx, some, nil))
		got, err := s.Session(ctx, none.ID)
		is.NoErr(err)
		is.Equal(len(got.Scopes), 0) // none: never read back as anything else
		got, err = s.Session(ctx, some.ID)
		is.NoErr(err)
		is.Equal(got.Scopes, []string{"a", "b"})
	}},
}

var feedTests = []test{
	{"RevokedSince/KeysSessionsAndDisabledKeys", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		old, _ := mustKey(t, s, "alice", "old")
		gone, _ := mustKey(t, s, "alice", "gone")
		off, _ := mustKey(t, s, "alice", "off")
		live, _ := mustKey(t, s, "alice", "live")
		early, late, kept := NewSession(live, authkit.SessionGrant, ""), NewSession(live, authkit.SessionGrant, ""), NewSession(live, authkit.SessionGrant, "")
		for _, x := range []*authkit.Session{early, late, kept} {
			is.NoErr(s.CreateSession(ctx, x, nil))
		}
		is.NoErr(s.RevokeKey(ctx, "alice", old.ID, T0))
		is.NoErr(s.RevokeSession(ctx, "alice", early.ID, T0))
		is.NoErr(s.RevokeKey(ctx, "alice", gone.ID, T0.Add(time.Minute)))
		is.NoErr(s.RevokeSession(ctx, "alice", late.ID, T0.Add(time.Minute)))
		u := *off
		u.Disabled = true
		is.NoErr(s.UpdateKey(ctx, &u))

		got, err := s.RevokedSince(ctx, T0.Add(time.Minute))
		is.NoErr(err)
		want := []authkit.Revocation{
			{Kind: authkit.RevokedKey, ID: gone.ID}, {Kind: authkit.RevokedSession, ID: late.ID}, {Kind: authkit.ChangedKey, ID: off.ID},
		}
		sortRevocations(got)
		sortRevocations(want)
		is.Equal(got, want)
		got, err = s.RevokedSince(ctx, T0)
		is.NoErr(err)
		is.Equal(len(got), 5)
	}},
}

func sortRevocations(rs []authkit.Revocation) {
	slices.SortFunc(rs, func(a, b authkit.Revocation) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
}

var usageTests = []test{
	{"Usage/AddAccumulatesListsInOrderAndDeletes", func(t *testing.T, s authkit.Store) {
		is := is.New(t)
		a, b := id(), id()
		h0, h1, h2 := T0.Truncate(time.Hour), T0.Truncate(time.Hour).Add(time.Hour), T0.Truncate(time.Hour).Add(2*time.Hour)
		is.NoErr(s.AddUsage(ctx, []authkit.UsageCount{
			{KeyID: a, Start: h1, Outcome: authkit.OutcomeValid, Count: 5},
			{KeyID: a, Start: h0, Outcome: authkit.OutcomeValid, Count: 2},
			{KeyID: a, Start: h0, Outcome: authkit.OutcomeRateLimited, Count: 1},
			{KeyID: b, Start: h0, Outcome: authkit.OutcomeValid, Count: 9},
		}))
		is.NoErr(s.AddUsage(ctx, []authkit.UsageCount{{KeyID: a, Start: h1, Outcome: authkit.OutcomeValid, Count: 3}})) // adds up
		is.NoErr(s.AddUsage(ctx, nil))
		got, err := s.Usage(ctx, a, h0, h2)
		is.NoErr(err)
		is.Equal(got, []authkit.UsageCount{
			{KeyID: a, Start: h0, Outcome: authkit.OutcomeRateLimited, Count: 1},
			{KeyID: a, Start: h0, Outcome: authkit.OutcomeValid, Count: 2},
			{KeyID: a, Start: h1, Outcome: authkit.OutcomeValid, Count: 8},
		})
		got, err = s.Usage(ctx, a, h1, h2) // from is inclusive, to exclusive
		is.NoErr(err)
		is.Equal(len(got), 1)
		got, err = s.Usage(ctx, a, h0, h1)
		is.NoErr(err)
		is.Equal(len(got), 2)
		n, err := s.DeleteUsage(ctx, h1)
		is.NoErr(err)
		is.Equal(n, 3) // a's two at h0 and b's
		got, err = s.Usage(ctx, a, h0, h2)
		is.NoErr(err)
		is.Equal(len(got), 1)
		got, err = s.Usage(ctx, b, h0, h2)
		is.NoErr(err)
		is.Equal(len(got), 0)
	}},
}
