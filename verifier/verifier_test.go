package verifier_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/feed"
	"github.com/authkit/authkit/handlers"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/verifier"
)

var ctx = context.Background()

// service is a token service over real HTTP: metadata, JWKS, the feed and
// the validation endpoint, as examples/server mounts them.
type service struct {
	srv     *httptest.Server
	ak      *server.Server
	key     *authkit.Key
	jwks    atomic.Int64 // JWKS requests served
	checks  atomic.Int64 // key checks served
	feedOff atomic.Bool  // the feed answers nothing (a stalled stream)
}

// feedHeartbeat is how often the test service's feed pings.
const feedHeartbeat = 200 * time.Millisecond

func newService(t testing.TB) *service { t.Helper(); return newServiceAt(t, nil) }

// newServiceAt is newService on clock (nil: the system clock).
func newServiceAt(t testing.TB, clock authkit.Clock) *service {
	t.Helper()
	s := &service{srv: httptest.NewUnstartedServer(nil)}
	issuer := "http://" + s.srv.Listener.Addr().String()
	secret, _ := authkit.NewSecret([]byte("verifier-test-secret-0123456789abcdef"))
	var err error
	store := memory.New()
	s.ak, err = server.New(ctx, server.Config{Store: store, Secret: secret, Issuer: issuer, CleanupEvery: -1, RotateEvery: -1, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ak.Close() })
	// The server's own feed pings every 2 s; this one, on the same store,
	// every 200 ms, so that a test of a silent feed waits a fraction of
	// that.
	fs, err := feed.New(feed.Config{Store: store, Heartbeat: feedHeartbeat, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	ep := s.ak.Endpoints
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/oauth-authorization-server", ep.Metadata(handlers.MetadataOptions{
		Issuer: issuer, Token: "/oauth/token", JWKS: "/jwks", Feed: "/feed", Validation: "/validate", KeyCheck: "/check-key"}))
	check := ep.CheckKey()
	mux.Handle("POST /check-key", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.checks.Add(1)
		check.ServeHTTP(w, r)
	}))
	jwks := ep.JWKS()
	mux.Handle("GET /jwks", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.jwks.Add(1)
		jwks.ServeHTTP(w, r)
	}))
	mux.Handle("GET /feed", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.feedOff.Load() {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			<-r.Context().Done() // a stream that never says a word
			return
		}
		fs.ServeHTTP(w, r)
	}))
	mux.Handle("POST /validate", ep.Validate(handlers.ValidateOptions{}))
	s.srv.Config.Handler = mux
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	s.key, _, err = s.ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "alice", Handle: "k", Scopes: []string{"videos:read"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *service) issuer() string { return s.srv.URL }

func (s *service) grant(t testing.TB) *authkit.Grant {
	t.Helper()
	g, err := s.ak.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: s.key})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func newVerifier(t testing.TB, s *service, cfg verifier.Config) *verifier.Verifier {
	t.Helper()
	cfg.Issuer = s.issuer()
	v, err := verifier.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// eventually waits until fn holds, for up to 5 s.
func eventually(t *testing.T, what string, fn func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !fn(); {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestVerify_AsTheTokenServiceDoes(t *testing.T) {
	is := is.New(t)
	s := newService(t)
	v := newVerifier(t, s, verifier.Config{})
	g := s.grant(t)
	eventually(t, "never caught up", func() bool { _, err := v.Verify(ctx, g.AccessToken); return err == nil })
	p, err := v.Verify(ctx, g.AccessToken)
	is.NoErr(err)
	is.Equal(p.Owner(), "alice")
	is.Equal(p.KeyID(), s.key.ID)
	is.True(p.HasScope("videos:read"))
	want, err := s.ak.Tokens.Verify(ctx, g.AccessToken)
	is.NoErr(err)
	is.Equal(p.Scopes(), want.Scopes())
	is.Equal(p.SessionID(), want.SessionID())

	for name, tok := range map[string]string{
		"garbage":  "x.y.z",
		"tampered": g.AccessToken[:len(g.AccessToken)-4] + "AAAA",
		"empty":    "",
	} {
		_, err := v.Verify(ctx, tok)
		is.True(errors.Is(err, authkit.ErrUnauthenticated)) // name
		_ = name
	}
	// Another audience: issued by the same service with another aud.
	other, _, err := s.ak.Tokens.Issue(ctx, authkit.TokenRequest{Key: s.key, SessionID: g.Session.ID})
	is.NoErr(err)
	_, err = v.Verify(ctx, other)
	is.NoErr(err)
	v2 := newVerifier(t, s, verifier.Config{Audience: "https://someone-else.example"})
	_, err = v2.Verify(ctx, other)
	is.True(errors.Is(err, authkit.ErrUnauthenticated))
}

func TestVerify_RevocationsArriveThroughTheFeed(t *testing.T) {
	is := is.New(t)
	s := newService(t)
	v := newVerifier(t, s, verifier.Config{})
	g := s.grant(t)
	eventually(t, "never caught up", func() bool { _, err := v.Verify(ctx, g.AccessToken); return err == nil })
	is.NoErr(s.ak.Sessions.Revoke(ctx, "alice", g.Session.ID))
	eventually(t, "a revoked session's token still verifies", func() bool {
		_, err := v.Verify(ctx, g.AccessToken)
		return errors.Is(err, authkit.ErrRevoked)
	})

	// A follower that starts after the revocation is caught up on it.
	late := newVerifier(t, s, verifier.Config{})
	eventually(t, "a late follower accepts a revoked session's token", func() bool {
		_, err := late.Verify(ctx, g.AccessToken)
		return errors.Is(err, authkit.ErrRevoked)
	})
}

func TestVerify_PicksUpARotatedSigningKeyAtMostOncePerInterval(t *testing.T) {
	is := is.New(t)
	s := newService(t)
	v := newVerifier(t, s, verifier.Config{MinRefetch: 200 * time.Millisecond})
	g := s.grant(t)
	eventually(t, "never caught up", func() bool { _, err := v.Verify(ctx, g.AccessToken); return err == nil })
	before := s.jwks.Load()
	is.NoErr(s.ak.Tokens.Rotate(ctx))
	time.Sleep(250 * time.Millisecond) // past MinRefetch since the first fetch
	g2 := s.grant(t)                   // signed with the new key
	_, err := v.Verify(ctx, g2.AccessToken)
	is.NoErr(err)
	is.Equal(s.jwks.Load(), before+1)
	_, err = v.Verify(ctx, g.AccessToken) // the old key still verifies its tokens
	is.NoErr(err)

	// Forged kids cannot make it fetch more than once per interval.
	for range 20 {
		_, err := v.Verify(ctx, forgeKid(t, g2.AccessToken))
		is.True(errors.Is(err, authkit.ErrUnauthenticated))
	}
	is.True(s.jwks.Load() <= before+2)
}

func TestVerify_StaleFeedRefusesOrChecksRemotely(t *testing.T) {
	is := is.New(t)
	s := newService(t)
	g := s.grant(t)
	s.feedOff.Store(true) // the feed never says a word: never caught up, always stale

	refuse := newVerifier(t, s, verifier.Config{MaxStale: 3 * feedHeartbeat}) // more than the feed's heartbeat
	_, err := refuse.Verify(ctx, g.AccessToken)
	is.True(errors.Is(err, authkit.ErrUnavailable)) // 503, never "valid"

	check := newVerifier(t, s, verifier.Config{MaxStale: 3 * feedHeartbeat, OnStale: verifier.CheckRemotely})
	p, err := check.Verify(ctx, g.AccessToken)
	is.NoErr(err) // asked the token service
	is.Equal(p.Owner(), "alice")
	is.NoErr(s.ak.Sessions.Revoke(ctx, "alice", g.Session.ID))
	_, err = check.Verify(ctx, g.AccessToken)
	is.True(errors.Is(err, authkit.ErrRevoked)) // the token service said no

	// The feed comes back: the verifiers catch up and trust it again.
	s.feedOff.Store(false)
	g2 := s.grant(t)
	eventually(t, "the verifier never recovered from a stale feed", func() bool {
		_, err := refuse.Verify(ctx, g2.AccessToken)
		return err == nil
	})
	_, err = refuse.Verify(ctx, g.AccessToken)
	is.True(errors.Is(err, authkit.ErrRevoked)) // caught up on the revocation it missed
}

// forgeKid returns tok with another kid in its header (and so a signature
// that cannot verify).
func forgeKid(t *testing.T, tok string) string {
	t.Helper()
	hdr := `{"alg":"EdDSA","kid":"forged-` + time.Now().Format("150405.000000000") + `","typ":"at+jwt"}`
	_, rest, _ := cut(tok, '.')
	return b64(hdr) + "." + rest
}

func cut(s string, c byte) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyKey_CheckedAtTheTokenServiceCachedAndClearedByTheFeed(t *testing.T) {
	is := is.New(t)
	s := newService(t)
	v := newVerifier(t, s, verifier.Config{})
	g := s.grant(t)
	eventually(t, "never caught up", func() bool { _, err := v.Verify(ctx, g.AccessToken); return err == nil })
	k, secret, err := s.ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "bob", Handle: "product", Scopes: []string{"videos:read"}})
	is.NoErr(err)
	is.True(v.LooksLikeKey(secret))
	is.True(!v.LooksLikeKey("eyJhbGciOiJFZERTQSJ9.e30.sig"))
	var got *authkit.Key
	eventually(t, "the key never verified", func() bool { got, err = v.VerifyKey(ctx, secret); return err == nil })
	is.Equal(got.ID, k.ID)
	is.Equal(got.Owner, "bob")
	is.Equal(got.Scopes, []string{"videos:read"})
	n := s.checks.Load()
	p, err := v.KeyPrincipal(ctx, secret)
	is.NoErr(err)
	is.Equal(p.Method(), authkit.MethodKey)
	is.Equal(s.checks.Load(), n) // from the cache
	_, err = v.VerifyKey(ctx, "ak_live_"+secret[8:len(secret)-6]+"AAAAAA")
	is.True(errors.Is(err, authkit.ErrUnauthenticated)) // a bad checksum never reaches the service

	// Disabled, enabled, rotated, deleted: each applies at once.
	yes, no := true, false
	_, err = s.ak.Keys.Update(ctx, "bob", k.ID, authkit.KeyUpdate{Disabled: &yes})
	is.NoErr(err)
	refused := func(err error) bool { return err != nil && !errors.Is(err, authkit.ErrUnavailable) }
	eventually(t, "a disabled key still verifies", func() bool { _, err := v.VerifyKey(ctx, secret); return refused(err) })
	_, err = s.ak.Keys.Update(ctx, "bob", k.ID, authkit.KeyUpdate{Disabled: &no})
	is.NoErr(err)
	eventually(t, "an enabled key is still refused", func() bool { _, err := v.VerifyKey(ctx, secret); return err == nil })
	_, fresh, err := s.ak.Keys.Rotate(ctx, "bob", k.ID, 0)
	is.NoErr(err)
	eventually(t, "a rotated-away secret still verifies", func() bool {
		_, err := v.VerifyKey(ctx, secret)
		return errors.Is(err, authkit.ErrUnauthenticated)
	})
	_, err = v.VerifyKey(ctx, fresh)
	is.NoErr(err)
	is.NoErr(s.ak.Keys.Delete(ctx, "bob", k.ID))
	eventually(t, "a deleted key still verifies", func() bool { _, err := v.VerifyKey(ctx, fresh); return refused(err) })
}

func TestVerify_ARevokedSigningKeysTokensAreRefused(t *testing.T) {
	is := is.New(t)
	s := newService(t)
	v := newVerifier(t, s, verifier.Config{})
	g := s.grant(t)
	eventually(t, "never caught up", func() bool { _, err := v.Verify(ctx, g.AccessToken); return err == nil })
	kid := kidOf(t, g.AccessToken)
	is.NoErr(s.ak.Tokens.RevokeSigningKey(ctx, kid))
	eventually(t, "a revoked signing key's token still verifies", func() bool {
		_, err := v.Verify(ctx, g.AccessToken)
		return errors.Is(err, authkit.ErrUnauthenticated)
	})
	g2 := s.grant(t) // the new key's
	_, err := v.Verify(ctx, g2.AccessToken)
	is.NoErr(err)
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	hdr, _, _ := cut(tok, '.')
	b, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

// TestVerify_ADisabledThenDeletedKeyIsForgotten disables a key, then
// deletes it: its tokens are refused as revoked, and the verifier no longer
// holds it as disabled (no key that will never be enabled again stays
// there for ever).
func TestVerify_ADisabledThenDeletedKeyIsForgotten(t *testing.T) {
	is := is.New(t)
	s := newService(t)
	v := newVerifier(t, s, verifier.Config{})
	g := s.grant(t)
	eventually(t, "never caught up", func() bool { _, err := v.Verify(ctx, g.AccessToken); return err == nil })
	yes := true
	_, err := s.ak.Keys.Update(ctx, "alice", s.key.ID, authkit.KeyUpdate{Disabled: &yes})
	is.NoErr(err)
	eventually(t, "a disabled key's token still verifies", func() bool {
		_, err := v.Verify(ctx, g.AccessToken)
		return errors.Is(err, authkit.ErrDisabled)
	})
	is.Equal(verifier.DisabledLen(v), 1)
	is.NoErr(s.ak.Keys.Delete(ctx, "alice", s.key.ID))
	eventually(t, "a deleted key's token is not refused as revoked", func() bool {
		_, err := v.Verify(ctx, g.AccessToken)
		return errors.Is(err, authkit.ErrRevoked)
	})
	is.Equal(verifier.DisabledLen(v), 0) // forgotten: it is revoked
}

// TestVerify_RefetchesKeysByItsClock runs the token service and the
// verifier on one fake clock: the JWKS is fetched again once MinRefetch has
// passed on that clock, not on the system's.
func TestVerify_RefetchesKeysByItsClock(t *testing.T) {
	is := is.New(t)
	clock := fakeclock.New(time.Now())
	s := newServiceAt(t, clock.Now)
	v := newVerifier(t, s, verifier.Config{MinRefetch: 10 * time.Minute, MaxStale: time.Hour, Clock: clock.Now})
	g := s.grant(t)
	eventually(t, "never caught up", func() bool { _, err := v.Verify(ctx, g.AccessToken); return err == nil })
	is.NoErr(s.ak.Tokens.Rotate(ctx))
	_, err := v.Verify(ctx, s.grant(t).AccessToken)
	is.True(errors.Is(err, authkit.ErrUnauthenticated)) // a new key, but fetched less than MinRefetch ago
	clock.Advance(11 * time.Minute)
	_, err = v.Verify(ctx, s.grant(t).AccessToken)
	is.NoErr(err) // MinRefetch passed on the verifier's clock: fetched again
}
