package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/tokens"
)

var ctx = context.Background()

// stores lists the backends the behaviour tests run on; other files add to it.
var stores = []struct {
	name string
	open func(t testing.TB) authkit.Store
}{
	{"memory", func(t testing.TB) authkit.Store { return memory.New() }},
}

type fx struct {
	store  authkit.Store
	clock  *fakeclock.Clock
	keys   *keys.Service
	tokens *tokens.Service
	m      *sessions.Manager
	key    *authkit.Key
}

func newFx(t testing.TB, store authkit.Store, grace time.Duration) *fx {
	t.Helper()
	secret, err := authkit.NewSecret([]byte("sessions-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fx{store: store, clock: fakeclock.New(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))}
	if f.keys, err = keys.New(keys.Config{Store: store, Secret: secret, Clock: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if f.tokens, err = tokens.New(ctx, tokens.Config{Store: store, Secret: secret, Clock: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.tokens.Close)
	if f.m, err = sessions.New(sessions.Config{Store: store, Tokens: f.tokens, Secret: secret, RefreshGrace: grace, Clock: f.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if f.key, _, err = f.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "app", Scopes: []string{"videos:read", "videos:write"}}); err != nil {
		t.Fatal(err)
	}
	return f
}

func forStores(t *testing.T, fn func(t *testing.T, f *fx)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { fn(t, newFx(t, s.open(t), 0)) })
	}
}

func TestLogin_SameSessionReturnsSameToken(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		g1, err := f.m.Login(ctx, f.key, "")
		is.NoErr(err)
		is.Equal(g1.TTL, 2*time.Hour)
		is.Equal(g1.RefreshToken, "")
		g2, err := f.m.Login(ctx, f.key, "")
		is.NoErr(err)
		is.Equal(g2.AccessToken, g1.AccessToken)
		a, err := f.m.Login(ctx, f.key, "worker-a")
		is.NoErr(err)
		is.True(a.AccessToken != g1.AccessToken) // a new session id forces a new token
		c, err := f.tokens.Verify(ctx, a.AccessToken)
		is.NoErr(err)
		is.Equal(c.SessionID(), a.Session.ID)
		is.Equal(c.Owner(), "alice")

		// Inside the reuse margin (the last fifth) and after expiry: a new token.
		f.clock.Advance(time.Hour + 40*time.Minute)
		g3, err := f.m.Login(ctx, f.key, "")
		is.NoErr(err)
		is.True(g3.AccessToken != g1.AccessToken)
		is.Equal(g3.Session.ID, g1.Session.ID) // same session, new token
		f.clock.Advance(3 * time.Hour)
		g4, err := f.m.Login(ctx, f.key, "")
		is.NoErr(err)
		is.True(g4.AccessToken != g3.AccessToken)
		_, err = f.tokens.Verify(ctx, g4.AccessToken)
		is.NoErr(err)
	})
}

func TestLogin_100ConcurrentSameNewSessionOneToken(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		var wg sync.WaitGroup
		toks := make([]string, 100)
		errs := make([]error, 100)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g, err := f.m.Login(ctx, f.key, "burst")
				errs[i] = err
				if err == nil {
					toks[i] = g.AccessToken
				}
			}()
		}
		wg.Wait()
		for i := range 100 {
			is.NoErr(errs[i])
			is.Equal(toks[i], toks[0])
		}
		ss, _, err := f.m.List(ctx, "alice", authkit.Page{})
		is.NoErr(err)
		n := 0
		for _, s := range ss {
			if s.Name == "burst" {
				n++
			}
		}
		is.Equal(n, 1)
	})
}

func TestRevoke_OneSessionOthersKeepWorking(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		a, _ := f.m.Login(ctx, f.key, "a")
		b, _ := f.m.Login(ctx, f.key, "b")
		_, err := f.tokens.Verify(ctx, a.AccessToken) // cached now
		is.NoErr(err)
		is.True(errors.Is(f.m.Revoke(ctx, "bob", a.Session.ID), authkit.ErrNotFound))
		is.NoErr(f.m.Revoke(ctx, "alice", a.Session.ID))
		_, err = f.tokens.Verify(ctx, a.AccessToken)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.tokens.Verify(ctx, b.AccessToken)
		is.NoErr(err)
		a2, err := f.m.Login(ctx, f.key, "a")
		is.NoErr(err)
		is.True(a2.AccessToken != a.AccessToken)
		is.True(a2.Session.ID != a.Session.ID)
		_, err = f.tokens.Verify(ctx, a2.AccessToken)
		is.NoErr(err)
	})
}

func TestRefresh_NewPairAndReplayRevokesFamily(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		g, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key, TTL: time.Hour})
		is.NoErr(err)
		is.True(f.m.LooksLikeRefreshToken(g.RefreshToken))
		g2, err := f.m.Refresh(ctx, g.RefreshToken, 0)
		is.NoErr(err)
		is.True(g2.AccessToken != g.AccessToken && g2.RefreshToken != g.RefreshToken)
		is.Equal(g2.Session.ID, g.Session.ID)
		g3, err := f.m.Refresh(ctx, g2.RefreshToken, 0)
		is.NoErr(err)
		_, err = f.tokens.Verify(ctx, g3.AccessToken)
		is.NoErr(err)

		_, err = f.m.Refresh(ctx, g.RefreshToken, 0) // replay of a spent token
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.tokens.Verify(ctx, g3.AccessToken)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.m.Refresh(ctx, g3.RefreshToken, 0)
		is.True(errors.Is(err, authkit.ErrRevoked))
	})
}

func TestRefresh_GraceWindowReturnsSameChild(t *testing.T) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			is := is.New(t)
			f := newFx(t, s.open(t), 5*time.Second)
			g, _ := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
			c1, err := f.m.Refresh(ctx, g.RefreshToken, 0)
			is.NoErr(err)
			f.clock.Advance(2 * time.Second)
			c2, err := f.m.Refresh(ctx, g.RefreshToken, 0)
			is.NoErr(err)
			is.Equal(c2.AccessToken, c1.AccessToken)
			is.Equal(c2.RefreshToken, c1.RefreshToken)
			f.clock.Advance(4 * time.Second)
			_, err = f.m.Refresh(ctx, g.RefreshToken, 0)
			is.True(errors.Is(err, authkit.ErrRevoked))
			_, err = f.tokens.Verify(ctx, c1.AccessToken)
			is.True(errors.Is(err, authkit.ErrRevoked))
		})
	}
}

func TestRefresh_ConcurrentSpendersOneWinner(t *testing.T) {
	for _, grace := range []time.Duration{0, 5 * time.Second} {
		for _, s := range stores {
			t.Run(s.name+"/grace="+grace.String(), func(t *testing.T) {
				is := is.New(t)
				f := newFx(t, s.open(t), grace)
				g, _ := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
				var mu sync.Mutex
				got := map[string]int{}
				var wg sync.WaitGroup
				for range 50 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c, err := f.m.Refresh(ctx, g.RefreshToken, 0)
						mu.Lock()
						defer mu.Unlock()
						if err == nil {
							got[c.RefreshToken]++
						} else if !errors.Is(err, authkit.ErrRevoked) {
							t.Errorf("refresh: %v", err)
						}
					}()
				}
				wg.Wait()
				is.Equal(len(got), 1) // one distinct child
				if grace > 0 {
					for _, n := range got {
						is.Equal(n, 50) // everyone inside the window got it
					}
				}
			})
		}
	}
}

func TestRefresh_DiesWithKeyAndExpires(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		g, _ := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
		f.clock.Advance(31 * 24 * time.Hour)
		_, err := f.m.Refresh(ctx, g.RefreshToken, 0)
		is.True(errors.Is(err, authkit.ErrExpired))

		g, _ = f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
		is.NoErr(f.keys.Delete(ctx, "alice", f.key.ID))
		_, err = f.m.Refresh(ctx, g.RefreshToken, 0)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.tokens.Verify(ctx, g.AccessToken)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.m.Refresh(ctx, "rt_garbage", 0)
		is.True(errors.Is(err, authkit.ErrUnauthenticated))
	})
}

func TestExchange_ScopesMustBeASubset(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		g, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key, Scopes: []string{"videos:read"}})
		is.NoErr(err)
		is.Equal(g.Claims.Scope, "videos:read")
		_, err = f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key, Scopes: []string{"admin"}})
		is.True(errors.Is(err, authkit.ErrForbidden))
		g, _ = f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
		is.Equal(g.Claims.Scope, "videos:read videos:write")
	})
}

// nilScopes is a backend that reads empty scope lists back as nil, as the
// SessionStore contract allows.
type nilScopes struct{ authkit.Store }

func (s nilScopes) Session(ctx context.Context, id string) (*authkit.Session, error) {
	x, err := s.Store.Session(ctx, id)
	if err == nil && len(x.Scopes) == 0 {
		x.Scopes = nil
	}
	return x, err
}

// TestRefresh_ScopesNeverWiden: a grant with no scopes (asked for with an
// empty list) refreshes to tokens with no scopes, on every backend, not to
// the key's, whether the backend reads none back as nil or as empty.
func TestRefresh_ScopesNeverWiden(t *testing.T) {
	all := append(stores[:len(stores):len(stores)], struct {
		name string
		open func(t testing.TB) authkit.Store
	}{"nil-for-none", func(t testing.TB) authkit.Store { return nilScopes{memory.New()} }})
	for _, st := range all {
		t.Run(st.name, func(t *testing.T) {
			f := newFx(t, st.open(t), 0)
			is := is.New(t)
			g, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key, Scopes: []string{}})
			is.NoErr(err)
			is.Equal(g.Claims.Scope, "")
			next, err := f.m.Refresh(ctx, g.RefreshToken, 0)
			is.NoErr(err)
			is.Equal(next.Claims.Scope, "") // not the key's "videos:read videos:write"
			p, err := f.tokens.Verify(ctx, next.AccessToken)
			is.NoErr(err)
			is.True(!p.HasScope("videos:read"))
		})
	}
}

func TestRevokeRefreshToken_RevokesFamilyAndIgnoresUnknown(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		g, _ := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
		rt, sess, err := f.m.InspectRefreshToken(ctx, g.RefreshToken)
		is.NoErr(err)
		is.Equal(rt.SessionID, sess.ID)
		is.NoErr(f.m.RevokeRefreshToken(ctx, g.RefreshToken))
		is.NoErr(f.m.RevokeRefreshToken(ctx, "nonsense"))
		_, err = f.tokens.Verify(ctx, g.AccessToken)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, _, err = f.m.InspectRefreshToken(ctx, g.RefreshToken)
		is.True(errors.Is(err, authkit.ErrRevoked))
	})
}

// TestInspectRefreshToken_DeadKeyIsADeadToken: introspecting a refresh
// token whose key was deleted answers ErrRevoked, and one whose key expired
// ErrExpired, as the package documents (inactive, never a store failure);
// revoking either is no error.
func TestInspectRefreshToken_DeadKeyIsADeadToken(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		g, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
		is.NoErr(err)
		is.NoErr(f.keys.Delete(ctx, "alice", f.key.ID))
		rt, sess, err := f.m.InspectRefreshToken(ctx, g.RefreshToken)
		is.True(errors.Is(err, authkit.ErrRevoked)) // the key was deleted
		is.True(rt == nil && sess == nil)
		is.NoErr(f.m.RevokeRefreshToken(ctx, g.RefreshToken))

		short, _, err := f.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "short", ExpiresAt: f.clock.Now().Add(time.Hour)})
		is.NoErr(err)
		g, err = f.m.Exchange(ctx, authkit.ExchangeRequest{Key: short})
		is.NoErr(err)
		_, _, err = f.m.InspectRefreshToken(ctx, g.RefreshToken)
		is.NoErr(err)                  // alive while the key is
		f.clock.Advance(2 * time.Hour) // the key expired; the refresh token would not have yet
		rt, sess, err = f.m.InspectRefreshToken(ctx, g.RefreshToken)
		is.True(errors.Is(err, authkit.ErrExpired)) // the key expired
		is.True(rt == nil && sess == nil)
		is.NoErr(f.m.RevokeRefreshToken(ctx, g.RefreshToken))
	})
}

// TestLoginUser_AUserWithoutAKeyGetsTheSameTokenPerSessionID: one of the
// app's own users, signed in with the app's credentials, logs in like a
// key: the same token per session id, a new one for a new id; the token
// names the user and no key; another user's session of the same name is
// another session.
func TestLoginUser_AUserWithoutAKeyGetsTheSameTokenPerSessionID(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		scopes := []string{"videos:read"}
		a1, err := f.m.LoginUser(ctx, "user-1", scopes, "laptop")
		is.NoErr(err)
		a2, err := f.m.LoginUser(ctx, "user-1", scopes, "laptop")
		is.NoErr(err)
		is.Equal(a2.AccessToken, a1.AccessToken)
		b, err := f.m.LoginUser(ctx, "user-1", scopes, "phone")
		is.NoErr(err)
		is.True(b.AccessToken != a1.AccessToken)
		other, err := f.m.LoginUser(ctx, "user-2", scopes, "laptop")
		is.NoErr(err)
		is.True(other.Session.ID != a1.Session.ID)

		p, err := f.tokens.Verify(ctx, a1.AccessToken)
		is.NoErr(err)
		is.Equal(p.Owner(), "user-1")
		is.Equal(p.KeyID(), "")
		is.Equal(p.Scopes(), scopes)
		live, _, err := f.m.List(ctx, "user-1", authkit.Page{})
		is.NoErr(err)
		is.Equal(len(live), 2) // a user's sessions outlive no key: they are listed
		is.NoErr(f.m.Revoke(ctx, "user-1", a1.Session.ID))
		_, err = f.tokens.Verify(ctx, a1.AccessToken)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.m.LoginUser(ctx, "", scopes, "x")
		is.True(errors.Is(err, authkit.ErrInvalid))
	})
}

// TestSessions_CapPerKeyEndsTheOldest: one key cannot pile up sessions.
// With a cap of 3, the 4th and 5th sessions (logins and exchanges alike)
// end the oldest, whose tokens and refresh tokens stop working at once;
// the newest three live on. Another key's sessions are not touched.
func TestSessions_CapPerKeyEndsTheOldest(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		secret, err := authkit.NewSecret([]byte("sessions-test-secret-0123456789abcdef"))
		is.NoErr(err)
		m, err := sessions.New(sessions.Config{Store: f.store, Tokens: f.tokens, Secret: secret, MaxSessionsPerKey: 3, Clock: f.clock.Now})
		is.NoErr(err)
		other, _, err := f.keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "other"})
		is.NoErr(err)
		og, err := m.Exchange(ctx, authkit.ExchangeRequest{Key: other})
		is.NoErr(err)
		var grants []*authkit.Grant
		for i := range 5 {
			var g *authkit.Grant
			if i%2 == 0 {
				g, err = m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key})
			} else {
				g, err = m.Login(ctx, f.key, fmt.Sprint("worker-", i))
			}
			is.NoErr(err)
			grants = append(grants, g)
			f.clock.Advance(time.Second)
		}
		for i, g := range grants {
			_, err := f.tokens.Verify(ctx, g.AccessToken)
			if i < 2 {
				is.True(errors.Is(err, authkit.ErrRevoked)) // ended by the cap
			} else {
				is.NoErr(err)
			}
		}
		_, err = m.Refresh(ctx, grants[0].RefreshToken, 0)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = m.Refresh(ctx, grants[4].RefreshToken, 0)
		is.NoErr(err)
		_, err = f.tokens.Verify(ctx, og.AccessToken)
		is.NoErr(err) // another key's session
		list, err := f.store.ListSessions(ctx, "alice", authkit.Page{})
		is.NoErr(err)
		is.Equal(len(list), 4)
	})
}

// counting is a real store that counts its EndOldestSessions calls.
type counting struct {
	authkit.Store
	calls int
}

func (c *counting) EndOldestSessions(ctx context.Context, keyID string, max, keep int, at time.Time) (int, error) {
	c.calls++
	return c.Store.EndOldestSessions(ctx, keyID, max, keep, at)
}

// TestSessions_TheCapIsCountedOnlyWhenTheRoomIsUsedUp: a key opening
// session after session stays within its cap after every one, while the
// store counts its sessions about once per tenth of the cap, not at every
// login.
func TestSessions_TheCapIsCountedOnlyWhenTheRoomIsUsedUp(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		secret, err := authkit.NewSecret([]byte("sessions-test-secret-0123456789abcdef"))
		is.NoErr(err)
		store := &counting{Store: f.store}
		m, err := sessions.New(sessions.Config{Store: store, Tokens: f.tokens, Secret: secret, MaxSessionsPerKey: 100, Clock: f.clock.Now})
		is.NoErr(err)
		const logins = 350
		for i := range logins {
			_, err := m.Login(ctx, f.key, fmt.Sprint("worker-", i))
			is.NoErr(err)
			live, err := f.store.ListSessions(ctx, "alice", authkit.Page{Limit: 200})
			is.NoErr(err)
			is.True(len(live) <= 100) // never past the cap
			if i == 99 {
				is.Equal(len(live), 100) // nothing ended before the cap
			}
		}
		t.Logf("%d logins, %d counts", logins, store.calls)
		is.True(store.calls <= logins/5)
	})
}

// TestSessions_ExchangeSessionTTL: an endpoint may open shorter grant
// sessions than the manager's default, never longer ones.
func TestSessions_ExchangeSessionTTL(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		now := f.clock.Now()
		g, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key, SessionTTL: 2 * time.Hour})
		is.NoErr(err)
		is.True(g.Session.ExpiresAt.Equal(now.Add(2 * time.Hour)))
		g, err = f.m.Exchange(ctx, authkit.ExchangeRequest{Key: f.key, SessionTTL: 90 * 24 * time.Hour})
		is.NoErr(err)
		is.True(g.Session.ExpiresAt.Equal(now.Add(30 * 24 * time.Hour))) // the default bounds it
		f.clock.Advance(2*time.Hour + time.Second)
		_, err = f.m.Refresh(ctx, g.RefreshToken, 0)
		is.NoErr(err) // the long one lives on
	})
}

// TestRotate_EndsWhatTheOldSecretObtained: rotating a key (what an owner
// does after a leak) ends the sessions, refresh families and login tokens
// obtained with the old secret when its grace ends, and at once without
// one; what the new secret obtains lives on. KeepSessionsOnRotate keeps
// them.
func TestRotate_EndsWhatTheOldSecretObtained(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		k, s1, err := f.keys.Create(ctx, authkit.KeyRequest{Owner: "bob", Handle: "leaky", Scopes: []string{"videos:read"}})
		is.NoErr(err)
		old, err := f.keys.VerifyKey(ctx, s1)
		is.NoErr(err)
		a, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: old})
		is.NoErr(err)
		l, err := f.m.Login(ctx, old, "w")
		is.NoErr(err)

		_, s2, err := f.keys.Rotate(ctx, "bob", k.ID, 10*time.Minute)
		is.NoErr(err)
		// In the grace, the old secret still works, but what it obtains
		// now ends with the grace too.
		old, err = f.keys.VerifyKey(ctx, s1)
		is.NoErr(err)
		is.True(old.ExpiresAt.Equal(f.clock.Now().Add(10 * time.Minute)))
		b, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: old})
		is.NoErr(err)
		is.True(!b.Session.ExpiresAt.After(old.ExpiresAt))
		_, err = f.tokens.Verify(ctx, a.AccessToken)
		is.NoErr(err)
		next, err := f.keys.VerifyKey(ctx, s2)
		is.NoErr(err)
		c, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: next})
		is.NoErr(err)

		// Past the grace (and the verifiers' 30 s liveness window).
		f.clock.Advance(10*time.Minute + tokens.DefaultLivenessTTL + time.Second)
		for _, tok := range []string{a.AccessToken, b.AccessToken, l.AccessToken} {
			_, err := f.tokens.Verify(ctx, tok)
			is.True(errors.Is(err, authkit.ErrExpired))
		}
		_, err = f.m.Refresh(ctx, a.RefreshToken, 0)
		is.True(err != nil)
		_, err = f.m.Refresh(ctx, b.RefreshToken, 0)
		is.True(err != nil)
		_, err = f.keys.VerifyKey(ctx, s1)
		is.True(err != nil) // the old secret itself
		_, err = f.tokens.Verify(ctx, c.AccessToken)
		is.NoErr(err) // the new secret's
		_, err = f.m.Refresh(ctx, c.RefreshToken, 0)
		is.NoErr(err)
		g, err := f.m.Login(ctx, next, "w") // the login session: a new token, not the dead one
		is.NoErr(err)
		is.True(g.AccessToken != l.AccessToken)
		_, err = f.tokens.Verify(ctx, g.AccessToken)
		is.NoErr(err)

		// Without a grace: at once.
		cur, err := f.keys.VerifyKey(ctx, s2)
		is.NoErr(err)
		d, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: cur})
		is.NoErr(err)
		_, _, err = f.keys.Rotate(ctx, "bob", k.ID, 0)
		is.NoErr(err)
		_, err = f.tokens.Verify(ctx, d.AccessToken)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.m.Refresh(ctx, d.RefreshToken, 0)
		is.True(errors.Is(err, authkit.ErrRevoked))
	})
}

func TestRotate_KeepSessionsOnRotate(t *testing.T) {
	is := is.New(t)
	f := newFx(t, openSQLite(t), 0)
	secret, err := authkit.NewSecret([]byte("sessions-test-secret-0123456789abcdef"))
	is.NoErr(err)
	ks, err := keys.New(keys.Config{Store: f.store, Secret: secret, Clock: f.clock.Now, KeepSessionsOnRotate: true})
	is.NoErr(err)
	t.Cleanup(func() { ks.Close() })
	k, s1, err := ks.Create(ctx, authkit.KeyRequest{Owner: "bob", Handle: "kept"})
	is.NoErr(err)
	key, err := ks.VerifyKey(ctx, s1)
	is.NoErr(err)
	a, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: key})
	is.NoErr(err)
	_, _, err = ks.Rotate(ctx, "bob", k.ID, 0)
	is.NoErr(err)
	_, err = f.tokens.Verify(ctx, a.AccessToken)
	is.NoErr(err)
	_, err = f.m.Refresh(ctx, a.RefreshToken, 0)
	is.NoErr(err)
}

// TestDisable_RefusesTheKeyAndItsTokensUntilEnabled: a disabled key is
// refused, and so are its access tokens and refresh tokens, at once;
// enabled again, all of them work.
func TestDisable_RefusesTheKeyAndItsTokensUntilEnabled(t *testing.T) {
	forStores(t, func(t *testing.T, f *fx) {
		is := is.New(t)
		k, secret, err := f.keys.Create(ctx, authkit.KeyRequest{Owner: "carol", Handle: "paused", Scopes: []string{"videos:read"}})
		is.NoErr(err)
		key, err := f.keys.VerifyKey(ctx, secret)
		is.NoErr(err)
		g, err := f.m.Exchange(ctx, authkit.ExchangeRequest{Key: key})
		is.NoErr(err)
		_, err = f.tokens.Verify(ctx, g.AccessToken) // cached as alive
		is.NoErr(err)

		is.NoErr(setDisabled(f.keys, "carol", k.ID, true))
		_, err = f.keys.VerifyKey(ctx, secret)
		is.True(errors.Is(err, authkit.ErrDisabled))
		_, err = f.keys.KeyPrincipal(ctx, secret)
		is.True(errors.Is(err, authkit.ErrDisabled))
		_, err = f.tokens.Verify(ctx, g.AccessToken)
		is.True(errors.Is(err, authkit.ErrDisabled))
		_, err = f.m.Refresh(ctx, g.RefreshToken, 0)
		is.True(errors.Is(err, authkit.ErrDisabled))
		is.True(errors.Is(setDisabled(f.keys, "mallory", k.ID, false), authkit.ErrNotFound))

		is.NoErr(setDisabled(f.keys, "carol", k.ID, false))
		_, err = f.keys.VerifyKey(ctx, secret)
		is.NoErr(err)
		_, err = f.tokens.Verify(ctx, g.AccessToken)
		is.NoErr(err)
		_, err = f.m.Refresh(ctx, g.RefreshToken, 0)
		is.NoErr(err)
	})
}

func setDisabled(ks *keys.Service, owner, id string, b bool) error {
	_, err := ks.Update(context.Background(), owner, id, authkit.KeyUpdate{Disabled: &b})
	return err
}
