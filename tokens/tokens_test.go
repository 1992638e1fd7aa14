package tokens_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/tokens"
)

func TestIssueVerify_RoundTripEachAlgorithm(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, alg := range []string{tokens.EdDSA, tokens.ES256, tokens.HS256} {
			t.Run(alg, func(t *testing.T) {
				is := is.New(t)
				f := newFixture(t, b.open(t), tokens.Config{Algorithm: alg})
				tok, issued := f.issue(t)

				got, err := verifyClaims(context.Background(), f.svc, tok)
				is.NoErr(err)
				is.Equal(*got, *issued)
				is.Equal(got.Issuer, "authkit")
				is.Equal(got.Audience, "authkit")
				is.Equal(got.Subject, "alice")
				is.Equal(got.ClientID, f.key.ID)
				is.Equal(got.SessionID, f.sess.ID)
				is.Equal(got.Env, authkit.EnvTest)
				is.Equal(got.Scope, "videos:read videos:write")
				is.Equal(got.IssuedAt, start.Unix())
				is.Equal(got.Expiry, start.Add(time.Hour).Unix())
				is.True(got.ID != "")

				jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
				is.NoErr(err)
				h := jws.Signatures[0].Protected
				is.Equal(h.Algorithm, alg)
				is.Equal(h.ExtraHeaders[jose.HeaderType], "at+jwt")
				is.True(h.KeyID != "")
			})
		}
	})
}

func TestIssue_ClaimsAreExactlyTheRootClaims(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	tok, _ := f.issue(t)
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	is.NoErr(err)
	var m map[string]any
	is.NoErr(json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &m))
	is.Equal(len(m), 10) // iss aud sub client_id jti iat exp scope sid env
	for _, n := range []string{"iss", "aud", "sub", "client_id", "jti", "iat", "exp", "scope", "sid", "env"} {
		_, ok := m[n]
		is.True(ok) // claim present
	}
}

func TestIssue_TTLBounds(t *testing.T) {
	f := newFixture(t, backends[0].open(t), tokens.Config{MaxTTL: 2 * time.Hour})
	for _, tc := range []struct {
		name    string
		ttl     time.Duration
		wantErr bool
		wantExp time.Duration
	}{
		{"zero means the default", 0, false, time.Hour},
		{"within bounds", 90 * time.Minute, false, 90 * time.Minute},
		{"exactly the maximum", 2 * time.Hour, false, 2 * time.Hour},
		{"one second", time.Second, false, time.Second},
		{"above the maximum", 2*time.Hour + time.Second, true, 0},
		{"below one second", 999 * time.Millisecond, true, 0},
		{"negative", -time.Minute, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, c, err := f.svc.Issue(context.Background(), authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID, TTL: tc.ttl})
			if tc.wantErr {
				is.True(errors.Is(err, authkit.ErrInvalid))
				var fe *authkit.FieldError
				is.True(errors.As(err, &fe))
				is.Equal(fe.Field, "ttl")
				return
			}
			is.NoErr(err)
			is.Equal(c.Expiry-c.IssuedAt, int64(tc.wantExp/time.Second))
		})
	}
}

func TestIssue_ScopesDefaultToTheKeysAndMustBeGranted(t *testing.T) {
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	ctx := context.Background()
	t.Run("nil means the key's scopes", func(t *testing.T) {
		is := is.New(t)
		_, c, err := f.svc.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID})
		is.NoErr(err)
		is.Equal(c.Scopes(), []string{"videos:read", "videos:write"})
	})
	t.Run("a subset", func(t *testing.T) {
		is := is.New(t)
		tok, c, err := f.svc.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID, Scopes: []string{"videos:read"}})
		is.NoErr(err)
		is.Equal(c.Scope, "videos:read")
		v, err := verifyClaims(ctx, f.svc, tok)
		is.NoErr(err)
		is.Equal(v.Scope, "videos:read")
	})
	t.Run("empty means none", func(t *testing.T) {
		is := is.New(t)
		_, c, err := f.svc.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID, Scopes: []string{}})
		is.NoErr(err)
		is.Equal(c.Scope, "")
	})
	t.Run("a scope the key lacks", func(t *testing.T) {
		is := is.New(t)
		_, _, err := f.svc.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID, Scopes: []string{"admin"}})
		is.True(errors.Is(err, authkit.ErrForbidden))
	})
	t.Run("a scope with a space", func(t *testing.T) {
		is := is.New(t)
		_, _, err := f.svc.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID, Scopes: []string{"videos:read videos:write"}})
		is.True(errors.Is(err, authkit.ErrInvalid))
	})
}

func TestIssue_RefusesBadRequests(t *testing.T) {
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	ctx := context.Background()
	revoked := *f.key
	revoked.RevokedAt = start
	expired := *f.key
	expired.ExpiresAt = start
	for _, tc := range []struct {
		name string
		req  authkit.TokenRequest
		want error
	}{
		{"no key", authkit.TokenRequest{SessionID: f.sess.ID}, authkit.ErrInvalid},
		{"no session", authkit.TokenRequest{Key: f.key}, authkit.ErrInvalid},
		{"revoked key", authkit.TokenRequest{Key: &revoked, SessionID: f.sess.ID}, authkit.ErrRevoked},
		{"expired key", authkit.TokenRequest{Key: &expired, SessionID: f.sess.ID}, authkit.ErrExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, _, err := f.svc.Issue(ctx, tc.req)
			is.True(errors.Is(err, tc.want))
		})
	}
}

func TestIssue_TokenNeverOutlivesItsKey(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	k := *f.key
	k.ExpiresAt = start.Add(10 * time.Minute)
	_, c, err := f.svc.Issue(context.Background(), authkit.TokenRequest{Key: &k, SessionID: f.sess.ID})
	is.NoErr(err)
	is.Equal(c.Expiry, k.ExpiresAt.Unix())
}

func TestVerify_ExpiredTokenIsErrExpired(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		is := is.New(t)
		f := newFixture(t, b.open(t), tokens.Config{})
		ctx := context.Background()
		tok, _ := f.issue(t)
		_, err := f.svc.Verify(ctx, tok) // now cached
		is.NoErr(err)

		f.clock.Advance(time.Hour - time.Second)
		_, err = f.svc.Verify(ctx, tok)
		is.NoErr(err) // one second left

		f.clock.Advance(time.Second)
		_, err = f.svc.Verify(ctx, tok)
		is.True(errors.Is(err, authkit.ErrExpired))
		is.True(!errors.Is(err, authkit.ErrUnauthenticated))

		// Not from the cache either: a fresh service says the same.
		_, err = f.service(t, f.cfg).Verify(ctx, tok)
		is.True(errors.Is(err, authkit.ErrExpired))
	})
}

func TestVerify_LeewayAllowsClockSkew(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{Leeway: time.Minute, CacheSize: -1})
	ctx := context.Background()
	tok, _ := f.issue(t)
	f.clock.Advance(time.Hour + 59*time.Second)
	_, err := f.svc.Verify(ctx, tok)
	is.NoErr(err) // within the leeway
	f.clock.Advance(time.Second)
	_, err = f.svc.Verify(ctx, tok)
	is.True(errors.Is(err, authkit.ErrExpired))
}

func TestVerify_KeyRevokedFailsAtOnceEvenWhenCached(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		is := is.New(t)
		f := newFixture(t, b.open(t), tokens.Config{})
		ctx := context.Background()
		tok, _ := f.issue(t)
		_, err := f.svc.Verify(ctx, tok)
		is.NoErr(err)
		_, err = f.svc.Verify(ctx, tok) // from the cache
		is.NoErr(err)

		is.NoErr(f.store.RevokeKey(ctx, f.key.Owner, f.key.ID, f.clock.Now()))
		_, err = f.svc.Verify(ctx, tok)
		is.True(errors.Is(err, authkit.ErrRevoked))

		// A new token of the revoked key (a stale Key value) fails too.
		tok2, _ := f.issue(t)
		_, err = f.svc.Verify(ctx, tok2)
		is.True(errors.Is(err, authkit.ErrRevoked))
	})
}

func TestVerify_RevocationReachesAServiceThatNeverSawItThroughTheStore(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	ctx := context.Background()
	other := f.service(t, f.cfg)
	tok, _ := f.issue(t)
	_, err := other.Verify(ctx, tok)
	is.NoErr(err)
	other.Close() // no more notifications: the store must tell, once liveness lapses
	is.NoErr(f.store.RevokeSession(ctx, f.sess.Owner, f.sess.ID, f.clock.Now()))
	f.clock.Advance(tokens.DefaultLivenessTTL)
	_, err = other.Verify(ctx, tok)
	is.True(errors.Is(err, authkit.ErrRevoked))
}

func TestVerify_SessionRevokedWhileOtherSessionStillVerifies(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		is := is.New(t)
		f := newFixture(t, b.open(t), tokens.Config{})
		ctx := context.Background()
		other := f.newSession(t, f.key)
		tok, _ := f.issue(t)
		tokOther, _, err := f.svc.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: other.ID})
		is.NoErr(err)
		for _, tk := range []string{tok, tokOther} {
			_, err := f.svc.Verify(ctx, tk)
			is.NoErr(err)
		}

		is.NoErr(f.store.RevokeSession(ctx, f.sess.Owner, f.sess.ID, f.clock.Now()))
		_, err = f.svc.Verify(ctx, tok)
		is.True(errors.Is(err, authkit.ErrRevoked))
		_, err = f.svc.Verify(ctx, tokOther)
		is.NoErr(err)
	})
}

func TestVerify_DeadKeyOrSessionInStore(t *testing.T) {
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	ctx := context.Background()

	t.Run("unknown session is revoked", func(t *testing.T) {
		is := is.New(t)
		tok, _, err := f.svc.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: "no-such-session"})
		is.NoErr(err)
		_, err = f.svc.Verify(ctx, tok)
		is.True(errors.Is(err, authkit.ErrRevoked))
	})
	t.Run("unknown key is revoked", func(t *testing.T) {
		is := is.New(t)
		ghost := *f.key
		ghost.ID = "no-such-key"
		tok, _, err := f.svc.Issue(ctx, authkit.TokenRequest{Key: &ghost, SessionID: f.sess.ID})
		is.NoErr(err)
		_, err = f.svc.Verify(ctx, tok)
		is.True(errors.Is(err, authkit.ErrRevoked))
	})
	t.Run("expired session is expired", func(t *testing.T) {
		is := is.New(t)
		now := f.clock.Now()
		s := &authkit.Session{ID: "short-" + f.key.ID, Kind: authkit.SessionGrant, KeyID: f.key.ID, Owner: f.key.Owner, Scopes: f.key.Scopes,
			CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}
		is.NoErr(f.store.CreateSession(ctx, s, nil))
		tok, _, err := f.svc.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: s.ID})
		is.NoErr(err)
		_, err = f.svc.Verify(ctx, tok)
		is.NoErr(err)
		f.clock.Advance(30 * time.Minute) // the session's end; the token has 30 min left
		_, err = f.svc.Verify(ctx, tok)
		is.True(errors.Is(err, authkit.ErrExpired))
	})
}

func TestRotate_OldTokenVerifiesNewTokensCarryNewKidOldKeyLeavesJWKS(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		is := is.New(t)
		f := newFixture(t, b.open(t), tokens.Config{MaxTTL: 2 * time.Hour})
		ctx := context.Background()
		before, _ := f.issue(t)
		oldKid := kidOf(t, before)
		is.Equal(jwksKids(t, f.svc), []string{oldKid})

		f.clock.Advance(time.Minute)
		is.NoErr(f.svc.Rotate(ctx))
		after, _ := f.issue(t)
		newKid := kidOf(t, after)
		is.True(newKid != oldKid)
		is.Equal(jwksKids(t, f.svc), []string{oldKid, newKid})

		for _, tk := range []string{before, after} {
			_, err := f.svc.Verify(ctx, tk)
			is.NoErr(err)
		}

		// The old key retires at rotation + MaxTTL; one second before, it
		// is still published.
		f.clock.Advance(2*time.Hour - time.Second)
		is.Equal(jwksKids(t, f.svc), []string{oldKid, newKid})
		f.clock.Advance(time.Second)
		is.Equal(jwksKids(t, f.svc), []string{newKid})

		// A restarted service no longer loads it at all.
		fresh := f.service(t, f.cfg)
		is.Equal(jwksKids(t, fresh), []string{newKid})
	})
}

func TestRotate_AnotherReplicaRotatedUnknownKidReloads(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	ctx := context.Background()
	replica := f.service(t, f.cfg)
	is.NoErr(replica.Rotate(ctx))
	tok, _, err := replica.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID})
	is.NoErr(err)

	_, err = f.svc.Verify(ctx, tok) // unknown kid: reload, then it is known
	is.NoErr(err)

	// The reloaded service now signs with the new key too.
	mine, _ := f.issue(t)
	is.Equal(kidOf(t, mine), kidOf(t, tok))
}

func TestRotate_OtherServicesSignWithTheNewKeyWithinAMinute(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	ctx := context.Background()
	before, _ := f.issue(t)
	replica := f.service(t, f.cfg)
	is.NoErr(replica.Rotate(ctx))
	newKid := jwksKids(t, replica)[1]

	f.clock.Advance(59 * time.Second)
	tok, _ := f.issue(t)
	is.Equal(kidOf(t, tok), kidOf(t, before)) // still the key it loaded
	f.clock.Advance(time.Second)
	tok, _ = f.issue(t)
	is.Equal(kidOf(t, tok), newKid)
}

func TestRotateIfOlder_TwoReplicasOnAScheduleRotateOnce(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	ctx := context.Background()
	replica := f.service(t, f.cfg)
	first := jwksKids(t, f.svc)

	rotated, err := f.svc.RotateIfOlder(ctx, time.Hour)
	is.NoErr(err)
	is.True(!rotated) // the first key is new
	f.clock.Advance(time.Hour)
	rotated, err = f.svc.RotateIfOlder(ctx, time.Hour)
	is.NoErr(err)
	is.True(rotated)
	rotated, err = replica.RotateIfOlder(ctx, time.Hour) // sees the other's rotation
	is.NoErr(err)
	is.True(!rotated)
	keys, err := f.store.SigningKeys(ctx)
	is.NoErr(err)
	is.Equal(len(keys), 2)
	tok, _, err := replica.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID})
	is.NoErr(err)
	is.True(kidOf(t, tok) != first[0]) // and signs with the new key at once
}

func TestVerify_UnknownKidReloadsAtMostOncePerSecond(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{CacheSize: -1})
	ctx := context.Background()
	kid, alg, priv := f.ownKey(t)
	_, err := f.svc.Verify(ctx, sign(t, alg, priv, "nope", nil, f.claims())) // reloads
	is.True(errors.Is(err, authkit.ErrUnauthenticated))

	replica := f.service(t, f.cfg)
	is.NoErr(replica.Rotate(ctx))
	tok, _, err := replica.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID})
	is.NoErr(err)
	is.True(kidOf(t, tok) != kid)

	_, err = f.svc.Verify(ctx, tok) // within the second: no reload
	is.True(errors.Is(err, authkit.ErrUnauthenticated))
	f.clock.Advance(time.Second)
	_, err = f.svc.Verify(ctx, tok)
	is.NoErr(err)
}

func TestJWKS_ThirdPartyVerifiesWithGoJoseAlone(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		for _, alg := range []string{tokens.EdDSA, tokens.ES256} {
			t.Run(alg, func(t *testing.T) {
				is := is.New(t)
				f := newFixture(t, b.open(t), tokens.Config{Algorithm: alg, Issuer: "https://auth.example.com"})
				tok, issued := f.issue(t)
				raw, err := f.svc.JWKS(context.Background())
				is.NoErr(err)

				// What a third party does, knowing only the JWKS bytes.
				var set jose.JSONWebKeySet
				is.NoErr(json.Unmarshal(raw, &set))
				parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
				is.NoErr(err)
				kid := parsed.Headers[0].KeyID
				keys := set.Key(kid)
				is.Equal(len(keys), 1)
				is.Equal(keys[0].Algorithm, alg)
				is.Equal(keys[0].Use, "sig")
				is.True(keys[0].IsPublic())
				var std jwt.Claims
				var extra struct {
					Scope    string `json:"scope"`
					ClientID string `json:"client_id"`
				}
				is.NoErr(parsed.Claims(keys[0], &std, &extra))
				is.NoErr(std.ValidateWithLeeway(jwt.Expected{
					Issuer:      "https://auth.example.com",
					AnyAudience: jwt.Audience{"https://auth.example.com"},
					Time:        start.Add(time.Minute),
				}, 0))
				is.Equal(std.Subject, "alice")
				is.Equal(std.ID, issued.ID)
				is.Equal(extra.Scope, issued.Scope)
				is.Equal(extra.ClientID, f.key.ID)
			})
		}
	})
}

func TestJWKS_NeverPublishesHS256(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{Algorithm: tokens.HS256})
	raw, err := f.svc.JWKS(context.Background())
	is.NoErr(err)
	is.Equal(string(raw), `{"keys":[]}`)
}

func TestJWKS_HoldsPublicHalvesOnly(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	raw, err := f.svc.JWKS(context.Background())
	is.NoErr(err)
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	is.NoErr(json.Unmarshal(raw, &doc))
	is.Equal(len(doc.Keys), 1)
	_, hasD := doc.Keys[0]["d"]
	is.True(!hasD) // no private part
	is.Equal(doc.Keys[0]["kty"], "OKP")
	is.Equal(doc.Keys[0]["crv"], "Ed25519")
}

func TestNew_WrongSecretCannotOpenTheKeys(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	other, err := authkit.NewSecret([]byte(strings.Repeat("x", 32)))
	is.NoErr(err)
	cfg := f.cfg
	cfg.Secret = other
	_, err = tokens.New(context.Background(), cfg)
	is.True(err != nil)
}

func TestNew_RefusesBadConfig(t *testing.T) {
	store := backends[0].open(t)
	secret := newSecret(t)
	for _, tc := range []struct {
		name  string
		cfg   tokens.Config
		field string
	}{
		{"no store", tokens.Config{Secret: secret}, "store"},
		{"no secret", tokens.Config{Store: store}, "secret"},
		{"unknown algorithm", tokens.Config{Store: store, Secret: secret, Algorithm: "RS256"}, "algorithm"},
		{"none in the allow-list", tokens.Config{Store: store, Secret: secret, Algorithms: []string{"none"}}, "algorithms"},
		{"allow-list without the signing algorithm", tokens.Config{Store: store, Secret: secret, Algorithms: []string{"ES256"}}, "algorithms"},
		{"default above max", tokens.Config{Store: store, Secret: secret, DefaultTTL: 3 * time.Hour, MaxTTL: time.Hour}, "default_ttl"},
		{"negative leeway", tokens.Config{Store: store, Secret: secret, Leeway: -time.Second}, "leeway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, err := tokens.New(context.Background(), tc.cfg)
			var fe *authkit.FieldError
			is.True(errors.As(err, &fe))
			is.Equal(fe.Field, tc.field)
		})
	}
}

func TestVerify_CacheDisabledStillVerifies(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{CacheSize: -1, LivenessTTL: -1})
	ctx := context.Background()
	tok, _ := f.issue(t)
	for range 3 {
		_, err := f.svc.Verify(ctx, tok)
		is.NoErr(err)
	}
	is.NoErr(f.store.RevokeKey(ctx, f.key.Owner, f.key.ID, f.clock.Now()))
	_, err := f.svc.Verify(ctx, tok)
	is.True(errors.Is(err, authkit.ErrRevoked))
}

func TestVerify_ManyTokensStayWithinTheCacheBound(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{CacheSize: 16})
	ctx := context.Background()
	var toks []string
	for range 100 {
		tok, _ := f.issue(t)
		toks = append(toks, tok)
		_, err := f.svc.Verify(ctx, tok)
		is.NoErr(err)
	}
	for _, tk := range toks { // evicted or not, every token still verifies
		_, err := f.svc.Verify(ctx, tk)
		is.NoErr(err)
	}
}

func TestVerify_ConcurrentWithRevocation(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	ctx := context.Background()
	tok, _ := f.issue(t)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				f.svc.Verify(ctx, tok)
			}
		}()
	}
	is.NoErr(f.store.RevokeSession(ctx, f.sess.Owner, f.sess.ID, f.clock.Now()))
	for range 4 {
		<-done
	}
	_, err := f.svc.Verify(ctx, tok)
	is.True(errors.Is(err, authkit.ErrRevoked))
}

// kidOf returns the kid header of tok.
func kidOf(t testing.TB, tok string) string {
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.HS256})
	if err != nil {
		panic(err)
	}
	return jws.Signatures[0].Protected.KeyID
}

// jwksKids returns the kids svc publishes, in order.
func jwksKids(t *testing.T, svc *tokens.Service) []string {
	t.Helper()
	raw, err := svc.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	kids := []string{}
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

// TestRevokeSigningKey_ItsTokensRefusedAtOnceEverywhere: a leaked signing
// key revoked on one Service (the one that signs: a new key takes over)
// is refused at once there, cached tokens included, and on another Service
// of the same store, and leaves the JWKS; tokens of the new key verify.
func TestRevokeSigningKey_ItsTokensRefusedAtOnceEverywhere(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		is := is.New(t)
		f := newFixture(t, b.open(t), tokens.Config{})
		ctx := context.Background()
		replica := f.service(t, f.cfg)
		leaked, _ := f.issue(t)
		kid := kidOf(t, leaked)
		for _, s := range []*tokens.Service{f.svc, replica} {
			_, err := s.Verify(ctx, leaked)
			is.NoErr(err) // cached on both
		}
		is.NoErr(f.svc.RevokeSigningKey(ctx, kid))
		for _, s := range []*tokens.Service{f.svc, replica} {
			_, err := s.Verify(ctx, leaked)
			is.True(errors.Is(err, authkit.ErrUnauthenticated)) // refused, cache or not
		}
		is.True(!slices.Contains(jwksKids(t, f.svc), kid))
		after, _ := f.issue(t)
		is.True(kidOf(t, after) != kid)
		for _, s := range []*tokens.Service{f.svc, replica} {
			_, err := s.Verify(ctx, after)
			is.NoErr(err)
		}
		is.True(errors.Is(f.svc.RevokeSigningKey(ctx, "no-such-kid"), authkit.ErrNotFound))
	})
}

// TestRevokeSigningKey_AnotherServiceSignsWithTheNewKeyAtOnce: the signing
// key revoked by another Service (another process: the admin command, a
// replica) leaves this one with no key to sign with until it reads the
// new one; it reads it at the next Issue, even within a second of another
// reload (a JWKS request, an unknown kid), rather than failing.
func TestRevokeSigningKey_AnotherServiceSignsWithTheNewKeyAtOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		is := is.New(t)
		f := newFixture(t, b.open(t), tokens.Config{})
		ctx := context.Background()
		replica := f.service(t, f.cfg)
		before, _ := f.issue(t)
		kid := kidOf(t, before)
		is.True(slices.Contains(jwksKids(t, replica), kid)) // a reload, just now
		is.NoErr(f.svc.RevokeSigningKey(ctx, kid))
		tok, _, err := replica.Issue(ctx, authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID})
		is.NoErr(err)
		is.True(kidOf(t, tok) != kid)
		_, err = f.svc.Verify(ctx, tok)
		is.NoErr(err)
	})
}
