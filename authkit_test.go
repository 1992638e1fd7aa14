package authkit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authkit/authkit"
	"github.com/matryer/is"
)

func TestNewSecret_RefusesShortSecret(t *testing.T) {
	is := is.New(t)
	_, err := authkit.NewSecret([]byte(strings.Repeat("x", 31)))
	is.True(errors.Is(err, authkit.ErrInvalid))
	var fe *authkit.FieldError
	is.True(errors.As(err, &fe))
	is.Equal(fe.Field, "secret")
	s, err := authkit.NewSecret([]byte(strings.Repeat("x", 32)))
	is.NoErr(err)
	is.Equal(fmt.Sprint(s), "authkit.Secret(redacted)")
	is.Equal(fmt.Sprintf("%#v", s), "authkit.Secret(redacted)")
}

func TestSecretDerive_PurposesGiveIndependentKeys(t *testing.T) {
	is := is.New(t)
	s, _ := authkit.NewSecret([]byte(strings.Repeat("k", 40)))
	a, b := s.Derive("authkit/a"), s.Derive("authkit/b")
	is.Equal(len(a), 32)
	is.True(string(a) != string(b))
	is.Equal(string(a), string(s.Derive("authkit/a"))) // deterministic
	s2, _ := authkit.NewSecret([]byte(strings.Repeat("j", 40)))
	is.True(string(s2.Derive("authkit/a")) != string(a))
}

func TestLoadSecret_EnvWinsOverFile(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "secret")
	is.NoErr(os.WriteFile(path, []byte(strings.Repeat("f", 40)+"\n"), 0o600))
	t.Setenv("AUTHKIT_TEST_SECRET", strings.Repeat("e", 40))
	s, err := authkit.LoadSecret("AUTHKIT_TEST_SECRET", path)
	is.NoErr(err)
	want, _ := authkit.NewSecret([]byte(strings.Repeat("e", 40)))
	is.Equal(string(s.Derive("p")), string(want.Derive("p")))
}

func TestLoadSecret_RefusesGroupReadableFile(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "secret")
	is.NoErr(os.WriteFile(path, []byte(strings.Repeat("f", 40)), 0o644))
	is.NoErr(os.Chmod(path, 0o644))
	_, err := authkit.LoadSecret("", path)
	is.True(errors.Is(err, authkit.ErrInvalid))
}

func TestLoadOrCreateSecret_CreatesA0600FileOnceAndReadsItBack(t *testing.T) {
	is := is.New(t)
	path := filepath.Join(t.TempDir(), "secret")
	s1, err := authkit.LoadOrCreateSecret("", path)
	is.NoErr(err)
	fi, err := os.Stat(path)
	is.NoErr(err)
	is.Equal(fi.Mode().Perm(), os.FileMode(0o600))
	s2, err := authkit.LoadOrCreateSecret("", path)
	is.NoErr(err)
	is.Equal(string(s1.Derive("p")), string(s2.Derive("p")))
}

func TestLoadSecret_MissingFileIsNotExist(t *testing.T) {
	is := is.New(t)
	_, err := authkit.LoadSecret("", filepath.Join(t.TempDir(), "nope"))
	is.True(errors.Is(err, os.ErrNotExist))
}

func TestKeyCheck(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		key  authkit.Key
		want error
	}{
		{"live", authkit.Key{}, nil},
		{"not yet expired", authkit.Key{ExpiresAt: now.Add(time.Second)}, nil},
		{"expired at the instant", authkit.Key{ExpiresAt: now}, authkit.ErrExpired},
		{"revoked wins over expired", authkit.Key{ExpiresAt: now, RevokedAt: now}, authkit.ErrRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			err := tc.key.Check(now)
			if tc.want == nil {
				is.NoErr(err)
				return
			}
			is.True(errors.Is(err, tc.want))
		})
	}
}

func TestCheckScopes(t *testing.T) {
	for _, tc := range []struct {
		scopes []string
		ok     bool
	}{
		{nil, true},
		{[]string{"videos:read", "videos:write"}, true},
		{[]string{""}, false},
		{[]string{"videos read"}, false},
		{[]string{"a\"b"}, false},
		{[]string{strings.Repeat("a", 129)}, false},
		{[]string{"é"}, false},
	} {
		is := is.New(t)
		err := authkit.CheckScopes(tc.scopes)
		is.Equal(err == nil, tc.ok)
		if err != nil {
			is.True(errors.Is(err, authkit.ErrInvalid))
		}
	}
}

func TestPrincipalContext(t *testing.T) {
	is := is.New(t)
	_, ok := authkit.FromContext(context.Background())
	is.True(!ok)
	c := &authkit.Claims{Subject: "u1", ClientID: "k1", SessionID: "s1", Scope: "videos:read", Env: authkit.EnvLive}
	p := c.Principal()
	got, ok := authkit.FromContext(authkit.NewContext(context.Background(), p))
	is.True(ok)
	is.Equal(got, p)
	is.Equal(got.Owner(), "u1")
	is.Equal(got.KeyID(), "k1")
	is.Equal(got.SessionID(), "s1")
	is.Equal(got.Method(), authkit.MethodAccessToken)
	is.True(got.HasScope("videos:read"))
	is.True(!got.HasScope("videos:write"))
	is.True(!got.HasScope("videos"))
	is.True(!got.HasScope(""))
	claims, ok := got.Claims()
	is.True(ok)
	is.Equal(claims.Subject, "u1")
	user := authkit.UserPrincipal("u1")
	is.True(user.HasScope("anything"))
	_, ok = user.Claims()
	is.True(!ok)
	_, ok = authkit.FromContext(authkit.NewContext(authkit.NewContext(context.Background(), p), authkit.Principal{}))
	is.True(!ok) // the zero principal hides an outer one
	var zero authkit.Principal
	is.Equal(zero.Owner(), "")
	is.True(!zero.HasScope("x"))
	is.True(zero.IsZero())
}

// TestPrincipal_CopiesCannotChangeIt: what a handler gets from a Principal
// are copies; changing them leaves the Principal (shared by every request
// with the same token) as it was.
func TestPrincipal_CopiesCannotChangeIt(t *testing.T) {
	is := is.New(t)
	c := &authkit.Claims{Subject: "u1", Scope: "videos:read videos:write"}
	p := c.Principal()
	c.Subject, c.Scope = "mallory", "admin" // the claims it was built from
	sc := p.Scopes()
	sc[0] = "admin"
	_ = append(sc[:1], "admin")
	cl, _ := p.Claims()
	cl.Subject, cl.Scope = "mallory", "admin"
	q := p
	q = authkit.UserPrincipal("mallory") // a copy is the handler's own
	_ = q
	is.Equal(p.Owner(), "u1")
	is.Equal(p.Scopes(), []string{"videos:read", "videos:write"})
	is.True(!p.HasScope("admin"))
	again, _ := p.Claims()
	is.Equal(again.Subject, "u1")
	is.Equal(again.Scope, "videos:read videos:write")

	k := &authkit.Key{ID: "k1", Owner: "u2", Scopes: []string{"a", "b"}, Env: authkit.EnvTest}
	kp := k.Principal()
	k.Scopes[0] = "admin"
	is.Equal(kp.Scopes(), []string{"a", "b"})
	is.Equal(kp.Method(), authkit.MethodKey)
	is.Equal(kp.Env(), authkit.EnvTest)

	md := json.RawMessage(`{"plan":"free"}`)
	mp := kp.WithMetadata(md)
	got := mp.Metadata()
	copy(got, `{"plan":"paid"}`) // the same length: written in place if shared
	_ = append(got[:1], `"x":1}`...)
	is.Equal(string(mp.Metadata()), `{"plan":"free"}`)
	is.Equal(string(md), `{"plan":"free"}`)
	is.Equal(kp.Metadata(), nil) // WithMetadata returned a copy
	if !raceEnabled {
		is.Equal(testing.AllocsPerRun(100, func() { _ = kp.Metadata() }), 0.0) // none: nothing to copy
	}
}

func TestKeyAllows_IsTheScopeSubsetRule(t *testing.T) {
	is := is.New(t)
	k := &authkit.Key{Scopes: []string{"a", "b"}}
	is.NoErr(k.Allows(nil))
	is.NoErr(k.Allows([]string{"b", "a"}))
	err := k.Allows([]string{"a", "c"})
	is.True(errors.Is(err, authkit.ErrForbidden))
	is.True(strings.Contains(err.Error(), `"c"`))
}

func TestMissingScope_IsTheScopeSubsetRule(t *testing.T) {
	is := is.New(t)
	held := []string{"a", "b"}
	for _, c := range []struct {
		want, missing string
	}{
		{"", ""}, {"a", ""}, {"b a", ""}, {"a  b ", ""}, {"a c", "c"}, {"c", "c"}, {"ab", "ab"},
	} {
		got, ok := authkit.MissingScope(strings.FieldsSeq(c.want), held)
		is.Equal(got, c.missing)      // c.want
		is.Equal(ok, c.missing != "") // c.want
		got, ok = authkit.MissingScope(slices.Values(strings.Fields(c.want)), held)
		is.Equal(got, c.missing) // the same from a slice
		is.Equal(ok, c.missing != "")
	}
	_, ok := authkit.MissingScope(slices.Values([]string{"a"}), nil)
	is.True(ok) // nothing held: nothing allowed
	if raceEnabled {
		t.Skip("allocations are counted without the race detector")
	}
	want := []string{"b", "a"}
	allocs := testing.AllocsPerRun(100, func() {
		authkit.MissingScope(strings.FieldsSeq("a b"), held)
		authkit.MissingScope(slices.Values(want), held)
		_ = (&authkit.Key{Scopes: held}).Allows(want)
	})
	is.Equal(allocs, 0.0) // allocation-free
}

func TestGrantExpiresIn_RoundsUpAndNeverExceedsTTL(t *testing.T) {
	is := is.New(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := &authkit.Grant{ExpiresAt: now.Add(3599*time.Second + time.Millisecond), TTL: time.Hour}
	is.Equal(g.ExpiresIn(now), time.Hour)
	is.Equal(g.ExpiresIn(now.Add(-time.Minute)), time.Hour)
	is.Equal(g.ExpiresIn(now.Add(2*time.Hour)), time.Duration(0))
}

func TestBroadcaster_DeliversUntilCancel(t *testing.T) {
	is := is.New(t)
	var b authkit.Broadcaster
	var got []authkit.Revocation
	cancel := b.Subscribe(func(r authkit.Revocation) { got = append(got, r) })
	b.Publish(authkit.Revocation{Kind: authkit.RevokedKey, ID: "k1"})
	cancel()
	b.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: "s1"})
	is.Equal(got, []authkit.Revocation{{Kind: authkit.RevokedKey, ID: "k1"}})
}

func TestPageSize(t *testing.T) {
	is := is.New(t)
	is.Equal(authkit.Page{}.Size(), authkit.DefaultPageLimit)
	is.Equal(authkit.Page{Limit: 5}.Size(), 5)
	is.Equal(authkit.Page{Limit: 1 << 20}.Size(), authkit.MaxPageLimit)
}

func TestClock_NilIsSystemUTC(t *testing.T) {
	is := is.New(t)
	var c authkit.Clock
	is.Equal(c.Now().Location(), time.UTC)
	at := time.Date(2026, 1, 1, 0, 0, 0, 1500, time.FixedZone("x", 3600))
	c = func() time.Time { return at }
	is.Equal(c.Now(), at.UTC().Truncate(time.Microsecond))
}
