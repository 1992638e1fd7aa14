package tokens_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/tokens"
)

// FuzzVerify: Verify never panics, fails only with the documented errors,
// and accepts nothing but the claims of a token this service issued.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, backends[0].open(f), tokens.Config{})
	ctx := context.Background()
	issued := map[string]authkit.Claims{}
	for _, scopes := range [][]string{nil, {"videos:read"}, {}} {
		tok, c, err := fx.svc.Issue(ctx, authkit.TokenRequest{Key: fx.key, SessionID: fx.sess.ID, Scopes: scopes})
		if err != nil {
			f.Fatal(err)
		}
		issued[c.ID] = *c
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")                                                                                 // signature removed
		f.Add(b64(f, map[string]any{"alg": "none", "typ": "at+jwt"}) + "." + parts[1] + ".")                                   // alg none
		f.Add(b64(f, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kidOf(f, tok)}) + "." + parts[1] + "." + parts[2]) // alg swapped
	}
	f.Add("")
	f.Add("garbage")
	f.Add("a.b.c")
	f.Add("..")
	f.Add(`{"payload":"e30","signatures":[]}`)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := verifyClaims(ctx, fx.svc, token)
		if err != nil {
			if c != nil {
				t.Fatal("claims with an error")
			}
			if !errors.Is(err, authkit.ErrUnauthenticated) && !errors.Is(err, authkit.ErrExpired) && !errors.Is(err, authkit.ErrRevoked) {
				t.Fatalf("undocumented error: %v", err)
			}
			return
		}
		want, ok := issued[c.ID]
		if !ok || *c != want {
			t.Fatalf("accepted claims that were never issued: %+v", *c)
		}
	})
}
