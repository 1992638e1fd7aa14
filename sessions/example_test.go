package sessions_test

import (
	"context"
	"fmt"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/tokens"
)

// The login guide: the same token for the same session id while it is
// valid; a new session id forces a new one; revoking one session leaves the
// others working.
func ExampleManager_Login() {
	ctx := context.Background()
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	store := memory.New()
	ks, _ := keys.New(keys.Config{Store: store, Secret: secret})
	ts, _ := tokens.New(ctx, tokens.Config{Store: store, Secret: secret})
	defer ts.Close()
	m, _ := sessions.New(sessions.Config{Store: store, Tokens: ts, Secret: secret})

	_, apiKey, _ := ks.Create(ctx, authkit.KeyRequest{Owner: "tenant-1", Handle: "worker"})
	key, _ := ks.VerifyKey(ctx, apiKey) // what httpmw does with the api_key field

	first, _ := m.Login(ctx, key, "")
	again, _ := m.Login(ctx, key, "")
	other, _ := m.Login(ctx, key, "worker-2")
	fmt.Println("same token again:", again.AccessToken == first.AccessToken)
	fmt.Println("new session id, new token:", other.AccessToken != first.AccessToken)
	fmt.Println("expires_in:", first.TTL)

	_ = m.Revoke(ctx, "tenant-1", other.Session.ID)
	_, err := ts.Verify(ctx, other.AccessToken)
	fmt.Println("revoked session's token:", err)
	_, err = ts.Verify(ctx, first.AccessToken)
	fmt.Println("other session's token:", err)
	// Output:
	// same token again: true
	// new session id, new token: true
	// expires_in: 2h0m0s
	// revoked session's token: tokens: session revoked: authkit: revoked
	// other session's token: <nil>
}

// Exchange a key for an access token and a refresh token, then refresh:
// refreshing spends the old refresh token, and presenting it again revokes the family.
func ExampleManager_Refresh() {
	ctx := context.Background()
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	store := memory.New()
	ks, _ := keys.New(keys.Config{Store: store, Secret: secret})
	ts, _ := tokens.New(ctx, tokens.Config{Store: store, Secret: secret})
	defer ts.Close()
	m, _ := sessions.New(sessions.Config{Store: store, Tokens: ts, Secret: secret})
	k, _, _ := ks.Create(ctx, authkit.KeyRequest{Owner: "tenant-1", Handle: "app"})

	g, _ := m.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	next, _ := m.Refresh(ctx, g.RefreshToken, 0)
	fmt.Println("new pair:", next.AccessToken != g.AccessToken && next.RefreshToken != g.RefreshToken)
	_, err := m.Refresh(ctx, g.RefreshToken, 0) // a replay
	fmt.Println("replay:", err)
	_, err = ts.Verify(ctx, next.AccessToken)
	fmt.Println("family after the replay:", err)
	// Output:
	// new pair: true
	// replay: sessions: refresh: token reused, family revoked: authkit: revoked
	// family after the replay: tokens: session revoked: authkit: revoked
}
