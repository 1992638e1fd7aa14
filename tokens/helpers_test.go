package tokens_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/fakeclock"
	"github.com/authkit/authkit/internal/seal"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/tokens"
)

// start is where the fake clocks of the tests stand at first.
var start = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// backend opens a fresh store of one kind for a test.
type backend struct {
	name string
	open func(t testing.TB) authkit.Store
}

var backends = []backend{
	{"memory", func(t testing.TB) authkit.Store { return memory.New() }},
}

// eachBackend runs fn as a subtest over every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

func newSecret(t testing.TB) *authkit.Secret {
	s, err := authkit.NewSecret([]byte("an example server secret of 32+ bytes, for tests only"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is a Service over a store, with a fake clock, one key and one
// session of that key.
type fixture struct {
	store  authkit.Store
	secret *authkit.Secret
	clock  *fakeclock.Clock
	cfg    tokens.Config
	svc    *tokens.Service
	key    *authkit.Key
	sess   *authkit.Session
}

// newFixture builds a fixture; cfg's Store, Secret and Clock are filled in.
func newFixture(t testing.TB, store authkit.Store, cfg tokens.Config) *fixture {
	t.Helper()
	f := &fixture{store: store, secret: newSecret(t), clock: fakeclock.New(start)}
	cfg.Store, cfg.Secret, cfg.Clock = store, f.secret, f.clock.Now
	f.cfg = cfg
	f.svc = f.service(t, cfg)
	f.key = f.newKey(t, "alice", "videos:read", "videos:write")
	f.sess = f.newSession(t, f.key)
	return f
}

// service starts another Service on the fixture's store.
func (f *fixture) service(t testing.TB, cfg tokens.Config) *tokens.Service {
	t.Helper()
	svc, err := tokens.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("tokens.New: %v", err)
	}
	t.Cleanup(svc.Close)
	return svc
}

// newKey stores an application key of owner directly (the keys package is
// not needed for tokens).
func (f *fixture) newKey(t testing.TB, owner string, scopes ...string) *authkit.Key {
	t.Helper()
	now := f.clock.Now()
	k := &authkit.Key{
		ID:        uuid.Must(uuid.NewV7()).String(),
		Owner:     owner,
		Handle:    "k" + uuid.NewString()[:8],
		Env:       authkit.EnvTest,
		Scopes:    scopes,
		Hint:      "ak_test_abcd",
		CreatedAt: now,
	}
	h := make([]byte, 32)
	rand.Read(h)
	if err := f.store.CreateKey(context.Background(), k, &authkit.KeySecret{Hash: h, KeyID: k.ID, CreatedAt: now}); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k
}

// newSession stores a grant session of k that lives for a day.
func (f *fixture) newSession(t testing.TB, k *authkit.Key) *authkit.Session {
	t.Helper()
	now := f.clock.Now()
	s := &authkit.Session{
		ID:        uuid.Must(uuid.NewV7()).String(),
		Kind:      authkit.SessionGrant,
		KeyID:     k.ID,
		Owner:     k.Owner,
		Scopes:    k.Scopes,
		CreatedAt: now,
		ExpiresAt: now.Add(24 * time.Hour),
	}
	if err := f.store.CreateSession(context.Background(), s, nil); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return s
}

// issue issues a token for the fixture's key and session.
func (f *fixture) issue(t testing.TB) (string, *authkit.Claims) {
	t.Helper()
	tok, c, err := f.svc.Issue(context.Background(), authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID})
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return tok, c
}

// ownKey opens the active signing key from the store as an attacker holding
// the server secret would: tests use it to sign tokens that are right in
// every way but one.
func (f *fixture) ownKey(t testing.TB) (kid string, alg jose.SignatureAlgorithm, priv any) {
	t.Helper()
	is := is.New(t)
	recs, err := f.store.SigningKeys(context.Background())
	is.NoErr(err)
	var rec *authkit.SigningKey
	for _, r := range recs {
		if r.RetiredAt.IsZero() {
			rec = r
		}
	}
	is.True(rec != nil)
	sealer := seal.NewSealer(f.secret, seal.PurposeTokens)
	raw, err := sealer.Open(rec.Sealed, []byte(rec.ID))
	is.NoErr(err)
	if rec.Algorithm == tokens.HS256 {
		return rec.ID, jose.HS256, raw
	}
	p, err := x509.ParsePKCS8PrivateKey(raw)
	is.NoErr(err)
	switch p := p.(type) {
	case ed25519.PrivateKey:
		return rec.ID, jose.EdDSA, p
	case *ecdsa.PrivateKey:
		return rec.ID, jose.ES256, p
	}
	t.Fatalf("unexpected key type %T", p)
	return
}

// claims returns valid claims for the fixture's key and session, to be
// altered by a test.
func (f *fixture) claims() map[string]any {
	now := f.clock.Now().Unix()
	return map[string]any{
		"iss":       "authkit",
		"aud":       "authkit",
		"sub":       f.key.Owner,
		"client_id": f.key.ID,
		"jti":       uuid.NewString(),
		"iat":       now,
		"exp":       now + 600,
		"scope":     "videos:read",
		"sid":       f.sess.ID,
		"env":       "test",
	}
}

// sign makes a compact JWS of payload (JSON-encoded unless it is a string)
// with header (alg, typ at+jwt and kid are set unless header has them; a
// nil value removes one).
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, header map[jose.HeaderKey]any, payload any) string {
	t.Helper()
	opts := &jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{"typ": "at+jwt", "kid": kid}}
	for k, v := range header {
		if v == nil {
			delete(opts.ExtraHeaders, k)
			continue
		}
		opts.ExtraHeaders[k] = v
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	var b []byte
	if p, ok := payload.(string); ok {
		b = []byte(p)
	} else if b, err = json.Marshal(payload); err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// b64 encodes v (JSON unless a string) as a JWS segment.
func b64(t testing.TB, v any) string {
	t.Helper()
	b, ok := v.(string)
	if !ok {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b = string(j)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(b))
}

// verifyClaims verifies tok with svc and returns a copy of its claims.
func verifyClaims(ctx context.Context, svc *tokens.Service, tok string) (*authkit.Claims, error) {
	p, err := svc.Verify(ctx, tok)
	if err != nil {
		return nil, err
	}
	c, _ := p.Claims()
	return &c, nil
}
