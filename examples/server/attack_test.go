package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/matryer/is"

	"github.com/authkit/authkit/internal/seal"
)

func b64json(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// forge signs claims with go-jose under key, with extra header fields.
func forge(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, hdr map[jose.HeaderKey]any, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid)
	for k, v := range hdr {
		opts = opts.WithHeader(k, v)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, ok := claims.([]byte)
	if !ok {
		payload, _ = json.Marshal(claims)
	}
	obj, err := sg.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ourSigningKey opens the server's own signing key from the database, as
// only a holder of the server secret can: it lets the tests build tokens
// that are validly signed but wrong in their claims.
func (e *env) ourSigningKey(t *testing.T) (string, ed25519.PrivateKey, []byte) {
	t.Helper()
	recs, err := e.store.SigningKeys(context.Background())
	if err != nil || len(recs) == 0 {
		t.Fatal("no signing key", err)
	}
	sk := recs[len(recs)-1]
	sealer := seal.NewSealer(e.secret, seal.PurposeTokens)
	der, err := sealer.Open(sk.Sealed, []byte(sk.ID))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return sk.ID, priv.(ed25519.PrivateKey), sk.Public
}

// TestAttacks_RefusedWith401 sends each attack of RFC 8725 / RFC 9700 to
// the real handlers: never 200, never 500, always 401 invalid_token.
func TestAttacks_RefusedWith401(t *testing.T) {
	e := newEnv(t)
	created := e.createKey(alice, `{"handle":"victim"}`)
	key := str(created, "token")
	r := e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + key + `"}`})
	good, rt := str(r.json, "access_token"), str(r.json, "refresh_token")
	parts := strings.Split(good, ".")
	var claims map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(raw, &claims)
	with := func(change func(c map[string]any)) map[string]any {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		change(c)
		return c
	}
	kid, priv, pkix := e.ourSigningKey(t)
	rawPub := []byte(priv.Public().(ed25519.PublicKey))
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	ecStranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := e.clock.Now().Unix()
	hdr := func(h map[string]any) string { return b64json(t, h) }

	// The second session of the key, revoked; and a deleted key's token.
	r = e.do(req{method: "POST", path: "/auth/login", body: `{"api_key":"` + key + `","session_id":"doomed"}`})
	revokedTok := str(r.json, "access_token")
	sessions := e.do(req{method: "GET", path: "/user/sessions", auth: alice}).json["sessions"].([]any)
	for _, s := range sessions {
		if m := s.(map[string]any); m["session_id"] == "doomed" {
			e.do(req{method: "DELETE", path: "/user/sessions/" + m["id"].(string), auth: alice})
		}
	}
	other := str(e.createKey(alice, `{"handle":"deleted"}`), "token")
	deletedTok := str(e.do(req{method: "POST", path: "/auth/api-key", body: `{"apiKey":"` + other + `"}`}).json, "access_token")
	e.do(req{method: "DELETE", path: "/user/keys/deleted", auth: alice})

	attacks := map[string]string{
		"alg none":                             hdr(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + ".",
		"alg None":                             hdr(map[string]any{"alg": "None", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + ".",
		"alg NONE":                             hdr(map[string]any{"alg": "NONE", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + ".",
		"alg nOnE":                             hdr(map[string]any{"alg": "nOnE", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + ".",
		"alg none keeping our signature":       hdr(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + "." + parts[2],
		"stripped signature":                   parts[0] + "." + parts[1] + ".",
		"tampered payload":                     parts[0] + "." + b64json(t, with(func(c map[string]any) { c["scope"] = "admin" })) + "." + parts[2],
		"HS256 keyed with the PKIX public key": forge(t, jose.HS256, pkix, kid, nil, claims),
		"HS256 keyed with the raw public key":  forge(t, jose.HS256, rawPub, kid, nil, claims),
		"HS256 with an empty-ish secret":       forgeHMAC(t, []byte{0}, kid, claims),
		"HS256 with a guessable secret":        forgeHMAC(t, []byte("secret"), kid, claims),
		"embedded jwk of a stranger":           forge(t, jose.EdDSA, stranger, kid, map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: stranger.Public(), KeyID: kid, Algorithm: "EdDSA"}}, claims),
		"jku pointing elsewhere":               forge(t, jose.EdDSA, stranger, kid, map[jose.HeaderKey]any{"jku": "http://127.0.0.1:1/jwks.json"}, claims),
		"x5u pointing elsewhere":               forge(t, jose.EdDSA, stranger, kid, map[jose.HeaderKey]any{"x5u": "http://127.0.0.1:1/cert.pem"}, claims),
		"kid path traversal":                   forge(t, jose.EdDSA, stranger, "../../../../etc/passwd", nil, claims),
		"kid SQL injection":                    forge(t, jose.EdDSA, stranger, "' OR '1'='1", nil, claims),
		"kid very long":                        forge(t, jose.EdDSA, stranger, strings.Repeat("k", 4000), nil, claims),
		"all-zero ECDSA signature":             forgeZeroES256(t, kid, claims),
		"ES256 by a stranger under our kid":    forge(t, jose.ES256, ecStranger, kid, nil, claims),
		"JWS JSON serialization":               `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
		"JWE where a JWS is expected":          hdr(map[string]any{"alg": "dir", "enc": "A256GCM", "kid": kid}) + "..AAAAAAAAAAAAAAAA." + parts[1] + ".AAAAAAAAAAAAAAAAAAAAAA",
		"many dots":                            strings.Repeat(".", 5000),
		"64 KiB header":                        b64json(t, map[string]any{"alg": "EdDSA", "pad": strings.Repeat("x", 64<<10)}) + "." + parts[1] + "." + parts[2],
		"1 MiB header":                         b64json(t, map[string]any{"alg": "EdDSA", "pad": strings.Repeat("x", 1<<20)}) + "." + parts[1] + "." + parts[2],
		"several signatures":                   `{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"},{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`,
		"unknown crit header":                  forge(t, jose.EdDSA, priv, kid, map[jose.HeaderKey]any{"crit": []string{"x-new"}, "x-new": true}, claims),
		"expired":                              forge(t, jose.EdDSA, priv, kid, nil, with(func(c map[string]any) { c["exp"] = now - 1 })),
		"nbf in the future":                    forge(t, jose.EdDSA, priv, kid, nil, with(func(c map[string]any) { c["nbf"] = now + 600 })),
		"missing exp":                          forge(t, jose.EdDSA, priv, kid, nil, with(func(c map[string]any) { delete(c, "exp") })),
		"wrong iss":                            forge(t, jose.EdDSA, priv, kid, nil, with(func(c map[string]any) { c["iss"] = "http://evil.example" })),
		"wrong aud":                            forge(t, jose.EdDSA, priv, kid, nil, with(func(c map[string]any) { c["aud"] = "http://other.example" })),
		"typ JWT (an ID-like token)":           forge(t, jose.EdDSA, priv, kid, map[jose.HeaderKey]any{"typ": "JWT"}, claims),
		"a refresh token as access token":      rt,
		"a key as access token (rooms)":        key,
		"token of a deleted key":               deletedTok,
		"token of a revoked session":           revokedTok,
	}
	// Sanity: the good token passes where the attacks are sent.
	is.New(t).Equal(e.do(req{method: "GET", path: "/v1/rooms/x", auth: bearer(good)}).status, 404)
	for name, tok := range attacks {
		t.Run(name, func(t *testing.T) {
			is := is.New(t)
			for _, path := range []string{"/v1/rooms/x", "/videos"} {
				auth := bearer(tok)
				if path == "/videos" && (name == "a key as access token (rooms)") {
					continue // /videos accepts keys by design (as Basic); Bearer key is refused below
				}
				r := e.do(req{method: "GET", path: path, auth: auth})
				want := 401
				if name == "1 MiB header" {
					want = 431 // net/http refuses a header over its 1 MB limit before any handler runs
				}
				if name == "expired" && path == "/v1/rooms/x" {
					want = 403 // Inlive's routes answer expiry with 403 and the header
				}
				is.Equal(r.status, want)
				if r.status == 401 {
					is.True(strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`))
				}
			}
		})
	}
	is := is.New(t)
	r = e.do(req{method: "GET", path: "/videos", auth: bearer(key)}) // a key as bearer on /videos
	is.Equal(r.status, 401)
}

// forgeHMAC signs with a guessed HMAC secret, zero-padded to the 32 bytes
// go-jose insists on (an attacker's own signer would not care).
func forgeHMAC(t *testing.T, secret []byte, kid string, claims any) string {
	key := append([]byte(nil), secret...)
	for len(key) < 32 {
		key = append(key, 0)
	}
	return forge(t, jose.HS256, key, kid, nil, claims)
}

// forgeZeroES256 is the CVE-2022-21449 shape: r = s = 0.
func forgeZeroES256(t *testing.T, kid string, claims any) string {
	h := b64json(t, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid})
	return h + "." + b64json(t, claims) + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
}
