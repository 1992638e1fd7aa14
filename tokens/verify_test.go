package tokens_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/tokens"
)

func TestVerify_RejectsForgedAndMalformedTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b.open(t), tokens.Config{})
		kid, alg, priv := f.ownKey(t)
		good, _ := f.issue(t)
		parts := strings.Split(good, ".")
		with := func(change func(c map[string]any)) map[string]any {
			c := f.claims()
			change(c)
			return c
		}
		recs, err := f.store.SigningKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pkix := recs[0].Public
		rawPub := []byte(priv.(ed25519.PrivateKey).Public().(ed25519.PublicKey))
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		ecStranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		strangerJWK := jose.JSONWebKey{Key: stranger.Public(), KeyID: kid, Algorithm: "EdDSA"}

		cases := []struct {
			name  string
			token string
			want  error
		}{
			{"empty", "", authkit.ErrUnauthenticated},
			{"garbage", "not a token at all", authkit.ErrUnauthenticated},
			{"three empty parts", "..", authkit.ErrUnauthenticated},
			{"bad base64", "a.b.c", authkit.ErrUnauthenticated},
			{"four parts", good + ".x", authkit.ErrUnauthenticated},
			{"truncated", good[:len(good)-10], authkit.ErrUnauthenticated},
			{"truncated to two parts", parts[0] + "." + parts[1], authkit.ErrUnauthenticated},
			{"signature removed", parts[0] + "." + parts[1] + ".", authkit.ErrUnauthenticated},
			{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, authkit.ErrUnauthenticated},
			{"longer than 8 KiB", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["pad"] = strings.Repeat("x", tokens.MaxTokenLen) })), authkit.ErrUnauthenticated},
			{"alg none", b64(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + b64(t, f.claims()) + ".", authkit.ErrUnauthenticated},
			{"alg none with our signature", b64(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + "." + parts[2], authkit.ErrUnauthenticated},
			{"HS256 keyed with the PKIX public key", sign(t, jose.HS256, pkix, kid, nil, f.claims()), authkit.ErrUnauthenticated},
			{"HS256 keyed with the raw public key", sign(t, jose.HS256, rawPub, kid, nil, f.claims()), authkit.ErrUnauthenticated},
			{"re-signed with another key", sign(t, jose.EdDSA, stranger, kid, nil, f.claims()), authkit.ErrUnauthenticated},
			{"ES256 by a stranger under our kid", sign(t, jose.ES256, ecStranger, kid, nil, f.claims()), authkit.ErrUnauthenticated},
			{"stranger's key embedded as jwk", sign(t, jose.EdDSA, stranger, kid, map[jose.HeaderKey]any{"jwk": strangerJWK}, f.claims()), authkit.ErrUnauthenticated},
			{"stranger's key set by jku", sign(t, jose.EdDSA, stranger, kid, map[jose.HeaderKey]any{"jku": "https://evil.example/jwks"}, f.claims()), authkit.ErrUnauthenticated},
			{"tampered payload", parts[0] + "." + b64(t, with(func(c map[string]any) { c["scope"] = "admin" })) + "." + parts[2], authkit.ErrUnauthenticated},
			{"tampered header", b64(t, map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid, "x": 1}) + "." + parts[1] + "." + parts[2], authkit.ErrUnauthenticated},
			{"wrong typ", sign(t, alg, priv, kid, map[jose.HeaderKey]any{"typ": "JWT"}, f.claims()), authkit.ErrUnauthenticated},
			{"no typ", sign(t, alg, priv, kid, map[jose.HeaderKey]any{"typ": nil}, f.claims()), authkit.ErrUnauthenticated},
			{"crit header", sign(t, alg, priv, kid, map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}, f.claims()), authkit.ErrUnauthenticated},
			{"b64 false", sign(t, alg, priv, kid, map[jose.HeaderKey]any{"b64": false, "crit": []string{"b64"}}, f.claims()), authkit.ErrUnauthenticated},
			{"no kid", sign(t, alg, priv, kid, map[jose.HeaderKey]any{"kid": nil}, f.claims()), authkit.ErrUnauthenticated},
			{"unknown kid", sign(t, alg, priv, "no-such-kid", nil, f.claims()), authkit.ErrUnauthenticated},
			{"wrong aud", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["aud"] = "someone-else" })), authkit.ErrUnauthenticated},
			{"aud array without us", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["aud"] = []string{"a", "b"} })), authkit.ErrUnauthenticated},
			{"no aud", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { delete(c, "aud") })), authkit.ErrUnauthenticated},
			{"wrong iss", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["iss"] = "https://evil.example" })), authkit.ErrUnauthenticated},
			{"no exp", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { delete(c, "exp") })), authkit.ErrUnauthenticated},
			{"exp as a string", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["exp"] = "tomorrow" })), authkit.ErrUnauthenticated},
			{"exp out of range", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["exp"] = int64(1) << 62 })), authkit.ErrUnauthenticated},
			{"exp passed", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["exp"] = f.clock.Now().Unix() })), authkit.ErrExpired},
			{"nbf in the future", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["nbf"] = f.clock.Now().Unix() + 60 })), authkit.ErrUnauthenticated},
			{"iat in the future", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["iat"] = f.clock.Now().Unix() + 60 })), authkit.ErrUnauthenticated},
			{"no sid", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { delete(c, "sid") })), authkit.ErrUnauthenticated},
			{"no client_id", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { delete(c, "client_id") })), authkit.ErrUnauthenticated},
			{"payload not JSON", sign(t, alg, priv, kid, nil, "not json"), authkit.ErrUnauthenticated},
			{"payload a JSON array", sign(t, alg, priv, kid, nil, "[1,2]"), authkit.ErrUnauthenticated},
		}
		// Once on a fresh service, once on one that has verified a good
		// token already (its header is known, its key and session alive).
		for _, primed := range []bool{false, true} {
			svc := f.service(t, f.cfg)
			if primed {
				if _, err := svc.Verify(context.Background(), good); err != nil {
					t.Fatal(err)
				}
			}
			t.Run(map[bool]string{false: "fresh", true: "primed"}[primed], func(t *testing.T) {
				for _, tc := range cases {
					t.Run(tc.name, func(t *testing.T) {
						is := is.New(t)
						c, err := verifyClaims(context.Background(), svc, tc.token)
						is.True(c == nil)
						is.True(errors.Is(err, tc.want))
						if len(tc.token) > 20 {
							is.True(!strings.Contains(err.Error(), tc.token[len(tc.token)-20:])) // never echo the token
						}
					})
				}
			})
		}
	})
}

func TestVerify_AcceptsWhatTheRFCsAllow(t *testing.T) {
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	kid, alg, priv := f.ownKey(t)
	with := func(change func(c map[string]any)) map[string]any {
		c := f.claims()
		change(c)
		return c
	}
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"typ application/at+jwt", sign(t, alg, priv, kid, map[jose.HeaderKey]any{"typ": "application/at+jwt"}, f.claims())},
		{"typ in upper case", sign(t, alg, priv, kid, map[jose.HeaderKey]any{"typ": "AT+JWT"}, f.claims())},
		{"aud array holding us", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["aud"] = []string{"other", "authkit"} }))},
		{"nbf now", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["nbf"] = f.clock.Now().Unix() }))},
		{"unknown extra claim", sign(t, alg, priv, kid, nil, with(func(c map[string]any) { c["extra"] = []int{1} }))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			c, err := verifyClaims(context.Background(), f.svc, tc.token)
			is.NoErr(err)
			is.Equal(c.Audience, "authkit")
			is.Equal(c.Subject, "alice")
		})
	}
}

func TestVerify_AlgorithmOutsideTheAllowListIsRefused(t *testing.T) {
	is := is.New(t)
	store := backends[0].open(t)
	es := newFixture(t, store, tokens.Config{Algorithm: tokens.ES256})
	tok, _ := es.issue(t)
	// Same store and secret, but this service only accepts EdDSA.
	cfg := es.cfg
	cfg.Algorithm, cfg.Algorithms = tokens.EdDSA, []string{tokens.EdDSA}
	strict := es.service(t, cfg)
	_, err := strict.Verify(context.Background(), tok)
	is.True(errors.Is(err, authkit.ErrUnauthenticated))
}

func TestVerify_KeyVerifiesOnlyWithItsOwnAlgorithm(t *testing.T) {
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{Algorithm: tokens.HS256})
	kid, _, secret := f.ownKey(t)
	// A token claiming ES256 under an HS256 kid: even well-formed, refused.
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err := f.svc.Verify(context.Background(), sign(t, jose.ES256, ec, kid, nil, f.claims()))
	is.True(errors.Is(err, authkit.ErrUnauthenticated))
	// The HMAC key under HS256 itself works (it is ours).
	_, err = f.svc.Verify(context.Background(), sign(t, jose.HS256, secret, kid, nil, f.claims()))
	is.NoErr(err)
}

// TestVerify_ALeakedSigningKeyCannotMintForAnySession: tokens signed with
// this service's own signing key (as a thief of it would sign them) are
// refused when they disagree with the session they name: another key's
// session, another owner, wider scopes, or no client_id on a key's session.
// A user's token on a user's session is fine.
func TestVerify_ALeakedSigningKeyCannotMintForAnySession(t *testing.T) {
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	kid, alg, priv := f.ownKey(t)
	other := f.newKey(t, "bob", "videos:read")
	otherSess := f.newSession(t, other)
	user := &authkit.Session{ID: "user-session", Kind: authkit.SessionLogin, Owner: "carol", Scopes: []string{"videos:read"},
		CreatedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)}
	if err := f.store.CreateSession(context.Background(), user, nil); err != nil {
		t.Fatal(err)
	}
	with := func(change func(c map[string]any)) string {
		c := f.claims()
		change(c)
		return sign(t, alg, priv, kid, nil, c)
	}
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"as issued", with(func(c map[string]any) {}), true},
		{"another key's session", with(func(c map[string]any) { c["sid"] = otherSess.ID }), false},
		{"another owner", with(func(c map[string]any) { c["sub"] = "bob" }), false},
		{"wider scopes", with(func(c map[string]any) { c["scope"] = "videos:read admin" }), false},
		{"no client_id on a key's session", with(func(c map[string]any) { delete(c, "client_id") }), false},
		{"a key's token on a user's session", with(func(c map[string]any) { c["sid"] = user.ID; c["sub"] = "carol" }), false},
		{"a user's token on a user's session", with(func(c map[string]any) {
			c["sid"], c["sub"] = user.ID, "carol"
			delete(c, "client_id")
		}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := is.New(t)
			_, err := f.svc.Verify(context.Background(), tc.token)
			if tc.ok {
				is.NoErr(err)
				return
			}
			is.True(errors.Is(err, authkit.ErrUnauthenticated))
		})
	}
}

// TestVerify_KnownHeaderPathAgreesWithAFreshService: once a header is
// known, its tokens skip go-jose (internal/jws); respellings that go-jose
// decodes to the same bytes (CR or LF inside a segment, other padding bits)
// and forgeries get the same answer from a service that has seen the header
// and from one that has not, for every algorithm.
func TestVerify_KnownHeaderPathAgreesWithAFreshService(t *testing.T) {
	for _, alg := range []string{tokens.EdDSA, tokens.ES256, tokens.HS256} {
		t.Run(alg, func(t *testing.T) {
			is := is.New(t)
			f := newFixture(t, backends[0].open(t), tokens.Config{Algorithm: alg})
			good, _ := f.issue(t)
			_, err := f.svc.Verify(context.Background(), good) // the header is known from now on
			is.NoErr(err)
			hdr, rest, _ := strings.Cut(good, ".")
			body, sig, _ := strings.Cut(rest, ".")
			other, _ := f.issue(t)
			_, oRest, _ := strings.Cut(other, ".")
			oBody, oSig, _ := strings.Cut(oRest, ".")
			for _, tc := range []struct {
				name   string
				token  string
				accept bool
			}{
				{"LF in the payload", hdr + "." + body[:9] + "\n" + body[9:] + "." + sig, true},
				{"CR LF in the signature", hdr + "." + body + "." + sig[:9] + "\r\n" + sig[9:], true},
				{"another token's payload", hdr + "." + oBody + "." + sig, false},
				{"another token's signature", hdr + "." + body + "." + oSig, false},
				{"a truncated signature", hdr + "." + body + "." + sig[:len(sig)-2], false},
				{"no signature", hdr + "." + body + ".", false},
				{"a bad character", hdr + "." + body + "." + sig[:5] + "*" + sig[6:], false},
			} {
				fresh := f.service(t, f.cfg) // has seen no header
				_, errFresh := fresh.Verify(context.Background(), tc.token)
				_, errKnown := f.svc.Verify(context.Background(), tc.token)
				is.Equal(errFresh == nil, tc.accept) // go-jose's answer
				is.Equal(errKnown == nil, tc.accept) // the known-header path's
			}
		})
	}
}

// TestVerify_WarmTokenAllocatesNothing: a token verified before is
// verified again without allocating (the common case: a client reuses its
// token until it expires).
func TestVerify_WarmTokenAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are counted without the race detector")
	}
	is := is.New(t)
	f := newFixture(t, backends[0].open(t), tokens.Config{})
	ctx := context.Background()
	tok, _ := f.issue(t)
	_, err := f.svc.Verify(ctx, tok) // now warm
	is.NoErr(err)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := f.svc.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	})
	is.Equal(allocs, 0.0) // allocations per warm Verify
}
