package httpmw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/tokens"
)

// An app mounts the key exchange and protects a route with a scope.
func Example() {
	ctx := context.Background()
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	store := memory.New()
	ks, _ := keys.New(keys.Config{Store: store, Secret: secret})
	ts, _ := tokens.New(ctx, tokens.Config{Store: store, Secret: secret})
	defer ts.Close()
	sm, _ := sessions.New(sessions.Config{Store: store, Tokens: ts, Secret: secret})

	srv := &httpmw.Server{Keys: ks, Tokens: ts, Sessions: sm}
	auth := &httpmw.Auth{Tokens: ts}
	mux := http.NewServeMux()
	mux.Handle("POST /auth/api-key", srv.Exchange(httpmw.ExchangeOptions{KeyField: "apiKey"}))
	mux.Handle("GET /videos", auth.Verify(auth.Require("videos:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		fmt.Fprintf(w, "videos of %s", p.Owner)
	}))))
	web := httptest.NewServer(mux)
	defer web.Close()

	_, apiKey, _ := ks.Create(ctx, keys.CreateRequest{Owner: "tenant-1", Handle: "app", Scopes: []string{"videos:read"}})
	res, _ := http.Post(web.URL+"/auth/api-key", "application/json", strings.NewReader(`{"apiKey":"`+apiKey+`"}`))
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	fmt.Println(res.StatusCode, tok.ExpiresIn)

	req, _ := http.NewRequest("GET", web.URL+"/videos", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, _ = http.DefaultClient.Do(req)
	var body strings.Builder
	fmt.Fprint(&body, res.Status)
	res.Body.Close()
	fmt.Println(body.String())

	res, _ = http.Get(web.URL + "/videos")
	fmt.Println(res.StatusCode, res.Header.Get("WWW-Authenticate"))
	res.Body.Close()
	// Output:
	// 200 3600
	// 200 OK
	// 401 Bearer realm="authkit"
}
