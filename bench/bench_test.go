// Package bench compares authkit's token verification and middleware with
// other Go JWT libraries, on the same tokens and the same keys. It is a
// module of its own, so that authkit itself gains none of their
// dependencies. Run from this folder:
//
//	go test -run '^$' -bench . -benchmem -count 1
//
// Every token is issued by an authkit tokens.Service (iss, aud, exp 1 h,
// typ at+jwt, a kid). The peers verify those same compact tokens with the
// same keys: the public key comes from the Service's JWKS, and the HS256
// key is opened from the store the way tokens does (with the server secret,
// through authkit's internal/seal, which a nested module may import). Every
// peer checks the signature, exp (required), iss and aud, and decodes the
// same claims authkit returns (scope, client_id, sid, env included).
package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/jwtauth/v5"
	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	jwx2jwt "github.com/lestrrat-go/jwx/v2/jwt"
	jwxjwa "github.com/lestrrat-go/jwx/v3/jwa"
	jwxjwt "github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/internal/seal"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/tokens"
)

const (
	issuer   = "https://auth.bench.example"
	audience = "https://api.bench.example"

	// ringSize is how many distinct tokens the cold benchmarks cycle
	// through. authkit's verified-token cache is set to cacheSize, a
	// quarter of it, and evicts in insertion order, so every token has
	// left the cache long before it comes round again: each cold
	// iteration of authkit parses and verifies the signature (and pays the
	// cache lookup and insertion, as in production).
	ringSize  = 4096
	cacheSize = 1024
)

var algs = []string{tokens.EdDSA, tokens.ES256, tokens.HS256}

// fixture is one authkit Service of one algorithm, its tokens, and the key
// the peers verify with.
type fixture struct {
	alg    string
	store  *memory.Store
	secret *authkit.Secret
	svc    *tokens.Service
	key    *authkit.Key
	sess   *authkit.Session
	ring   []string // ringSize distinct tokens
	warm   string   // one token, verified once already
	verify any      // ed25519.PublicKey, *ecdsa.PublicKey or []byte
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
)

// getFixture builds the fixture of alg once per process: the benchmark
// functions run several times (once per b.N) and all share it.
func getFixture(tb testing.TB, alg string) *fixture {
	tb.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f := fixtures[alg]; f != nil {
		return f
	}
	f := newFixture(tb, alg)
	fixtures[alg] = f
	return f
}

func newFixture(tb testing.TB, alg string) *fixture {
	tb.Helper()
	ctx := context.Background()
	secret, err := authkit.NewSecret([]byte("the bench's server secret, 32+ bytes long, not for production"))
	if err != nil {
		tb.Fatal(err)
	}
	f := &fixture{alg: alg, store: memory.New(), secret: secret}
	f.svc = f.service(tb, issuer, audience, nil)
	// An application key and a grant session, stored directly, as
	// tokens/helpers_test.go does: Verify checks that both are alive.
	now := time.Now().UTC()
	f.key = &authkit.Key{
		ID: uuid.Must(uuid.NewV7()).String(), Owner: "alice", Handle: "bench", Env: authkit.EnvTest,
		Scopes: []string{"videos:read", "videos:write"}, Hint: "ak_test_abcd", CreatedAt: now,
	}
	if err := f.store.CreateKey(ctx, f.key, &authkit.KeySecret{Hash: make([]byte, 32), KeyID: f.key.ID, CreatedAt: now}); err != nil {
		tb.Fatal(err)
	}
	f.sess = &authkit.Session{
		ID: uuid.Must(uuid.NewV7()).String(), Kind: authkit.SessionGrant, KeyID: f.key.ID, Owner: f.key.Owner,
		Scopes: f.key.Scopes, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
	}
	if err := f.store.CreateSession(ctx, f.sess, nil); err != nil {
		tb.Fatal(err)
	}
	f.ring = make([]string, ringSize)
	for i := range f.ring {
		f.ring[i] = f.issue(tb, f.svc)
	}
	f.warm = f.issue(tb, f.svc)
	if _, err := f.svc.Verify(ctx, f.warm); err != nil { // now cached, with the liveness
		tb.Fatal(err)
	}
	f.verify = f.verifyKey(tb)
	return f
}

// service starts a tokens.Service on the fixture's store (which holds the
// signing key after the first one). clock nil is the system clock.
func (f *fixture) service(tb testing.TB, iss, aud string, clock authkit.Clock) *tokens.Service {
	tb.Helper()
	svc, err := tokens.New(context.Background(), tokens.Config{
		Store: f.store, Secret: f.secret, Algorithm: f.alg, Issuer: iss, Audience: aud,
		CacheSize: cacheSize, Clock: clock,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

func (f *fixture) issue(tb testing.TB, svc *tokens.Service) string {
	tb.Helper()
	tok, _, err := svc.Issue(context.Background(), authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// verifyKey returns the key the peers verify with: the public key from the
// JWKS, or for HS256 (never published) the HMAC key opened from the store
// with the server secret.
func (f *fixture) verifyKey(tb testing.TB) any {
	tb.Helper()
	ctx := context.Background()
	if f.alg == tokens.HS256 {
		recs, err := f.store.SigningKeys(ctx)
		if err != nil || len(recs) != 1 {
			tb.Fatalf("signing keys: %v, %d", err, len(recs))
		}
		sealer := seal.NewSealer(f.secret, seal.PurposeTokens)
		raw, err := sealer.Open(recs[0].Sealed, []byte(recs[0].ID))
		if err != nil {
			tb.Fatal(err)
		}
		return raw
	}
	b, err := f.svc.JWKS(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 1 {
		tb.Fatalf("JWKS: %v (%s)", err, b)
	}
	return set.Keys[0].Key
}

// The claims the peers decode into: what authkit.Claims holds.
type gjClaims struct {
	gjwt.RegisteredClaims
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	SessionID string `json:"sid"`
	Env       string `json:"env"`
}

type joseClaims struct {
	josejwt.Claims
	ClientID  string `json:"client_id"`
	Scope     string `json:"scope"`
	SessionID string `json:"sid"`
	Env       string `json:"env"`
}

// peer is one library's verification of a compact token.
type peer struct {
	name   string
	verify func(tok string) error
}

var errNoExp = errors.New("no exp")

// peers returns authkit and the other libraries, each set up once to verify
// f's tokens: signature (only f.alg allowed), exp required, iss and aud.
func (f *fixture) peers() []peer {
	ctx := context.Background()

	parser := gjwt.NewParser(gjwt.WithValidMethods([]string{f.alg}), gjwt.WithIssuer(issuer),
		gjwt.WithAudience(audience), gjwt.WithExpirationRequired())
	key := f.verify
	keyFunc := func(*gjwt.Token) (any, error) { return key, nil }

	joseAlgs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(f.alg)}
	expected := josejwt.Expected{Issuer: issuer, AnyAudience: josejwt.Audience{audience}}

	var jwxAlg jwxjwa.SignatureAlgorithm
	switch f.alg {
	case tokens.EdDSA:
		jwxAlg = jwxjwa.EdDSA()
	case tokens.ES256:
		jwxAlg = jwxjwa.ES256()
	case tokens.HS256:
		jwxAlg = jwxjwa.HS256()
	}
	jwxOpts := []jwxjwt.ParseOption{jwxjwt.WithKey(jwxAlg, key), jwxjwt.WithValidate(true),
		jwxjwt.WithIssuer(issuer), jwxjwt.WithAudience(audience), jwxjwt.WithRequiredClaim("exp")}

	return []peer{
		{"authkit", func(tok string) error {
			_, err := f.svc.Verify(ctx, tok)
			return err
		}},
		{"golang-jwt", func(tok string) error {
			var c gjClaims
			_, err := parser.ParseWithClaims(tok, &c, keyFunc)
			return err
		}},
		{"go-jose", func(tok string) error {
			t, err := josejwt.ParseSigned(tok, joseAlgs)
			if err != nil {
				return err
			}
			var c joseClaims
			if err := t.Claims(key, &c); err != nil {
				return err
			}
			if c.Expiry == nil {
				return errNoExp
			}
			e := expected
			e.Time = time.Now()
			return c.Validate(e)
		}},
		{"jwx", func(tok string) error {
			_, err := jwxjwt.ParseString(tok, jwxOpts...)
			return err
		}},
	}
}

// BenchmarkFloor is the raw primitive on the signing input and signature of
// the same tokens the cold benchmarks verify, cycling through the same ring
// (Ed25519 and ECDSA take a time that varies with the signature).
func BenchmarkFloor(b *testing.B) {
	type input struct{ msg, sig []byte }
	inputs := func(f *fixture) []input {
		in := make([]input, len(f.ring))
		for i, tok := range f.ring {
			n := strings.LastIndexByte(tok, '.')
			sig, err := base64.RawURLEncoding.DecodeString(tok[n+1:])
			if err != nil {
				b.Fatal(err)
			}
			in[i] = input{[]byte(tok[:n]), sig}
		}
		return in
	}
	b.Run("ed25519", func(b *testing.B) {
		f := getFixture(b, tokens.EdDSA)
		in, pub := inputs(f), f.verify.(ed25519.PublicKey)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			x := in[i%len(in)]
			if !ed25519.Verify(pub, x.msg, x.sig) {
				b.Fatal("ed25519.Verify failed")
			}
			i++
		}
	})
	b.Run("ecdsa-p256", func(b *testing.B) {
		f := getFixture(b, tokens.ES256)
		in, pub := inputs(f), f.verify.(*ecdsa.PublicKey)
		rs := make([][2]*big.Int, len(in))
		for i, x := range in {
			rs[i] = [2]*big.Int{new(big.Int).SetBytes(x.sig[:32]), new(big.Int).SetBytes(x.sig[32:])}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			x := in[i%len(in)]
			h := sha256.Sum256(x.msg)
			if !ecdsa.Verify(pub, h[:], rs[i%len(rs)][0], rs[i%len(rs)][1]) {
				b.Fatal("ecdsa.Verify failed")
			}
			i++
		}
	})
	b.Run("hmac-sha256", func(b *testing.B) {
		f := getFixture(b, tokens.HS256)
		in, key := inputs(f), f.verify.([]byte)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			x := in[i%len(in)]
			m := hmac.New(sha256.New, key)
			m.Write(x.msg)
			if !hmac.Equal(m.Sum(nil), x.sig) {
				b.Fatal("hmac mismatch")
			}
			i++
		}
	})
}

// BenchmarkCold verifies a different token at each iteration, from a ring
// of ringSize tokens that is four times authkit's cache (see ringSize).
func BenchmarkCold(b *testing.B) {
	for _, alg := range algs {
		b.Run(alg, func(b *testing.B) {
			f := getFixture(b, alg)
			for _, p := range f.peers() {
				b.Run(p.name, func(b *testing.B) {
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						if err := p.verify(f.ring[i%len(f.ring)]); err != nil {
							b.Fatal(err)
						}
						i++
					}
				})
			}
		})
	}
}

// BenchmarkWarm verifies the same EdDSA token again and again: authkit
// answers from its verified-token cache; the peers have no cache.
func BenchmarkWarm(b *testing.B) {
	f := getFixture(b, tokens.EdDSA)
	for _, p := range f.peers() {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := p.verify(f.warm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// ok is the protected handler: it writes 200 "ok".
var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("ok"))
})

// middlewares returns the handler behind each middleware, for f's warm
// token. authkit: Auth.Authenticate (Verify then Require, i.e. answers 401
// itself, like jwtauth's Verifier + Authenticator). jwtauth v5 (on jwx v2):
// the same algorithm and key, with iss, aud and exp required.
func middlewares(f *fixture) []struct {
	name string
	h    http.Handler
} {
	auth := &httpmw.Auth{Tokens: f.svc, Accept: httpmw.AcceptBearerToken}
	var priv any // jwtauth only verifies here
	ja := jwtauth.New(f.alg, priv, f.verify,
		jwx2jwt.WithIssuer(issuer), jwx2jwt.WithAudience(audience), jwx2jwt.WithRequiredClaim("exp"))
	return []struct {
		name string
		h    http.Handler
	}{
		{"bare", ok},
		{"authkit", auth.Authenticate(ok)},
		{"jwtauth", jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(ok))},
	}
}

// BenchmarkMiddleware serves one request per iteration through
// handler.ServeHTTP, with a new httptest request (Authorization: Bearer
// <warm EdDSA token>) and recorder each time, for all three alike.
func BenchmarkMiddleware(b *testing.B) {
	f := getFixture(b, tokens.EdDSA)
	authz := "Bearer " + f.warm
	for _, m := range middlewares(f) {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, "/videos", nil)
				r.Header.Set("Authorization", authz)
				w := httptest.NewRecorder()
				m.h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// TestSameVerdicts checks that the comparison is fair: for each algorithm,
// every peer accepts the same valid authkit token and refuses a tampered
// one, one of another issuer, one for another audience and an expired one,
// all signed with the same key; and that both middlewares pass the valid
// token and answer 401 for the tampered one.
func TestSameVerdicts(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			is := is.New(t)
			f := getFixture(t, alg)
			valid := f.ring[0]

			hdr, rest, _ := strings.Cut(valid, ".")
			body, sig, _ := strings.Cut(rest, ".")
			payload, err := base64.RawURLEncoding.DecodeString(body)
			is.NoErr(err)
			forged := strings.Replace(string(payload), `"sub":"alice"`, `"sub":"mallory"`, 1)
			is.True(forged != string(payload))
			tampered := hdr + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + sig

			// The same signing key (same store and secret), other claims.
			wrongIss := f.issue(t, f.service(t, "https://evil.example", audience, nil))
			wrongAud := f.issue(t, f.service(t, issuer, "https://other.example", nil))
			past := authkit.Clock(func() time.Time { return time.Now().Add(-3 * time.Hour) })
			expired := f.issue(t, f.service(t, issuer, audience, past))

			for _, p := range f.peers() {
				is.NoErr(p.verify(valid))                        // every peer accepts the valid token
				is.True(p.verify(f.warm) == nil)                 // and the warm one
				is.True(p.verify(tampered) != nil)               // tampered payload refused
				is.True(p.verify(wrongIss) != nil)               // wrong iss refused
				is.True(p.verify(wrongAud) != nil)               // wrong aud refused
				is.True(p.verify(expired) != nil)                // expired refused
				is.True(p.verify(valid+"x") != nil)              // bad signature encoding refused
				is.True(p.verify(strings.ToUpper(valid)) != nil) // garbage refused
			}
			for _, m := range middlewares(f) {
				if m.name == "bare" {
					continue
				}
				for tok, want := range map[string]int{valid: http.StatusOK, tampered: http.StatusUnauthorized, expired: http.StatusUnauthorized} {
					r := httptest.NewRequest(http.MethodGet, "/videos", nil)
					r.Header.Set("Authorization", "Bearer "+tok)
					w := httptest.NewRecorder()
					m.h.ServeHTTP(w, r)
					is.Equal(w.Code, want) // middleware verdict
				}
			}
		})
	}
}
