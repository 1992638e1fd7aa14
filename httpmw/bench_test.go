package httpmw_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/storage/memory"
)

// BenchmarkMiddleware measures what authkit adds to every protected
// request: a trivial handler alone ("bare"), behind Verify, and behind
// Verify and Require(scope), each called the same way through httptest with
// a warm access token (the common case: a client reuses its token), and
// behind both with the key itself as Basic user, seen before.
//
//	go test -run '^$' -bench Middleware -benchmem ./httpmw
func BenchmarkMiddleware(b *testing.B) {
	ctx := context.Background()
	sec, _ := authkit.NewSecret([]byte("httpmw-bench-secret-0123456789abcdefgh"))
	ak, err := server.New(ctx, server.Config{Store: memory.New(), Secret: sec})
	if err != nil {
		b.Fatal(err)
	}
	defer ak.Close()
	k, secret, err := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "o", Handle: "k", Scopes: []string{"videos:read"}})
	if err != nil {
		b.Fatal(err)
	}
	g, err := ak.Sessions.Exchange(ctx, authkit.ExchangeRequest{Key: k})
	if err != nil {
		b.Fatal(err)
	}
	bearer := "Bearer " + g.AccessToken
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(secret+":"))

	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	auth := ak.Auth(httpmw.AcceptBearerToken | httpmw.AcceptBasicKey)
	for _, c := range []struct {
		name, authz string
		h           http.Handler
	}{
		{"bare", bearer, ok},
		{"verify", bearer, auth.Verify(ok)},
		{"verify+require", bearer, auth.Verify(auth.Require("videos:read")(ok))},
		{"verify+require/basic-key", basic, auth.Verify(auth.Require("videos:read")(ok))},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, "/videos", nil)
				r.Header.Set("Authorization", c.authz)
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
