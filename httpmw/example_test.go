package httpmw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/handlers"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/storage/memory"
)

// An app mounts the key exchange and protects a route with a scope; the
// route accepts an access token, or the key itself as a Basic user name.
func Example() {
	ctx := context.Background()
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	ak, err := server.New(ctx, server.Config{Store: memory.New(), Secret: secret})
	if err != nil {
		panic(err)
	}
	defer ak.Close()

	auth := ak.Auth(httpmw.AcceptBearerToken | httpmw.AcceptBasicKey)
	mux := http.NewServeMux()
	mux.Handle("POST /auth/token", ak.Endpoints.Exchange(handlers.ExchangeOptions{KeyField: "api_key"}))
	mux.Handle("GET /videos", auth.Verify(auth.Require("videos:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authkit.FromContext(r.Context())
		fmt.Fprintf(w, "videos of %s, by %s", p.Owner(), p.Method())
	}))))
	web := httptest.NewServer(mux)
	defer web.Close()

	_, apiKey, _ := ak.Keys.Create(ctx, authkit.KeyRequest{Owner: "tenant-1", Handle: "app", Scopes: []string{"videos:read"}})
	res, _ := http.Post(web.URL+"/auth/token", "application/json", strings.NewReader(`{"api_key":"`+apiKey+`"}`))
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	fmt.Println(res.StatusCode, tok.ExpiresIn)

	get := func(authz string) {
		req, _ := http.NewRequest("GET", web.URL+"/videos", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		res, _ := http.DefaultClient.Do(req)
		var body strings.Builder
		fmt.Fprint(&body, res.StatusCode, " ")
		buf := make([]byte, 64)
		n, _ := res.Body.Read(buf)
		body.Write(buf[:n])
		res.Body.Close()
		fmt.Println(strings.TrimSpace(strings.TrimSpace(body.String()) + " " + res.Header.Get("WWW-Authenticate")))
	}
	get("Bearer " + tok.AccessToken)
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(apiKey, "")
	get(req.Header.Get("Authorization"))
	get("")
	// Output:
	// 200 3600
	// 200 videos of tenant-1, by access_token
	// 200 videos of tenant-1, by key
	// 401 {"error_description":"authentication required"} Bearer realm="authkit"
}
