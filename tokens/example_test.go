package tokens_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/tokens"
)

// Issue a token for a key's session, then verify it as a protected API
// would.
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	secret, err := authkit.NewSecret([]byte("never hard-code a real server secret!"))
	if err != nil {
		panic(err)
	}
	svc, err := tokens.New(ctx, tokens.Config{Store: store, Secret: secret, Issuer: "https://api.example.com"})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	// The keys and sessions packages make these; here they go straight
	// into the store.
	now := time.Now().UTC()
	key := &authkit.Key{ID: "0190a0e0-0000-7000-8000-000000000001", Owner: "alice", Handle: "ci", Env: authkit.EnvLive,
		Scopes: []string{"videos:read", "videos:write"}, CreatedAt: now}
	if err := store.CreateKey(ctx, key, &authkit.KeySecret{Hash: []byte("hash of the key's secret"), KeyID: key.ID, CreatedAt: now}); err != nil {
		panic(err)
	}
	sess := &authkit.Session{ID: "0190a0e0-0000-7000-8000-000000000002", Kind: authkit.SessionGrant, KeyID: key.ID,
		Owner: key.Owner, Scopes: key.Scopes, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := store.CreateSession(ctx, sess, nil); err != nil {
		panic(err)
	}

	token, _, err := svc.Issue(ctx, authkit.TokenRequest{Key: key, SessionID: sess.ID, Scopes: []string{"videos:read"}})
	if err != nil {
		panic(err)
	}

	p, err := svc.Verify(ctx, token) // what middleware puts in the request context
	if err != nil {
		panic(err)
	}
	claims, _ := p.Claims()
	fmt.Println("sub:", p.Owner())
	fmt.Println("scope:", claims.Scope)
	fmt.Println("iss:", claims.Issuer)
	fmt.Println("lifetime:", claims.Expiry-claims.IssuedAt, "s")
	// Output:
	// sub: alice
	// scope: videos:read
	// iss: https://api.example.com
	// lifetime: 3600 s
}

// Publish the public keys for third parties; rotate the signing key.
func ExampleService_JWKS() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	secret, err := authkit.NewSecret([]byte("never hard-code a real server secret!"))
	if err != nil {
		panic(err)
	}
	svc, err := tokens.New(ctx, tokens.Config{Store: store, Secret: secret})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	if err := svc.Rotate(ctx); err != nil { // the old key keeps verifying for MaxTTL
		panic(err)
	}
	raw, err := svc.JWKS(ctx) // serve at /.well-known/jwks.json
	if err != nil {
		panic(err)
	}
	var set struct {
		Keys []struct {
			Kty, Crv, Alg, Use string
		}
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		panic(err)
	}
	for _, k := range set.Keys {
		fmt.Println(k.Kty, k.Crv, k.Alg, k.Use)
	}
	// Output:
	// OKP Ed25519 EdDSA sig
	// OKP Ed25519 EdDSA sig
}
