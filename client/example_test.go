package client_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"

	"github.com/authkit/authkit/client"
)

// call makes a GET request through hc and prints the answer.
func call(hc *http.Client, url string) {
	res, err := hc.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	fmt.Println(res.StatusCode, string(b))
}

// An API that exchanges a key posted in a JSON member for an access token
// and a refresh token, and renews at another path.
func Example() {
	api, err := startAPI() // an API protected by authkit, and a key it issued to us
	if err != nil {
		log.Fatal(err)
	}
	defer api.Close()

	src, err := client.NewTokenSource(context.Background(), client.Config{
		BaseURL: api.URL,
		Flow:    client.KeyExchange{Path: "/token", KeyField: "key", RefreshPath: "/refresh", RefreshField: "refresh_token"},
		Key:     api.key, // from the caller's vault; empty: $AUTHKIT_API_KEY
	})
	if err != nil {
		log.Fatal(err)
	}
	hc := &http.Client{Transport: &client.Transport{Source: src}}
	call(hc, api.URL+"/hello")
	// Output: 200 hello, owner
}

// An API that takes the key as a bearer credential, with the lifetime asked
// for in the body, and answers inside an envelope: {"data": {…}}.
func ExampleKeyExchange_bearer() {
	api, err := startAPI()
	if err != nil {
		log.Fatal(err)
	}
	defer api.Close()

	src, err := client.NewTokenSource(context.Background(), client.Config{
		BaseURL: api.URL,
		Flow:    client.KeyExchange{Path: "/bearer/token", Body: map[string]any{"lifetime": 600}, Envelope: "data", ExpiresField: "lifetime"},
		Key:     api.key,
	})
	if err != nil {
		log.Fatal(err)
	}
	call(&http.Client{Transport: &client.Transport{Source: src}}, api.URL+"/hello")
	// Output: 200 hello, owner
}

// An API with a login endpoint: one session, and so one token, per process.
func ExampleLogin() {
	api, err := startAPI()
	if err != nil {
		log.Fatal(err)
	}
	defer api.Close()

	src, err := client.NewTokenSource(context.Background(), client.Config{
		BaseURL: api.URL,
		Flow:    client.Login{Path: "/login"},
		Key:     api.key,
	})
	if err != nil {
		log.Fatal(err)
	}
	call(&http.Client{Transport: &client.Transport{Source: src}}, api.URL+"/hello")
	// Output: 200 hello, owner
}

// An OAuth 2.0 token endpoint: the key's ID is the client id, the key the
// client secret.
func ExampleClientCredentials() {
	api, err := startAPI()
	if err != nil {
		log.Fatal(err)
	}
	defer api.Close()

	src, err := client.NewTokenSource(context.Background(), client.Config{
		BaseURL: api.URL,
		Flow:    client.ClientCredentials{Path: "/oauth/token", ClientID: api.keyID},
		Key:     api.key,
	})
	if err != nil {
		log.Fatal(err)
	}
	call(&http.Client{Transport: &client.Transport{Source: src}}, api.URL+"/hello")
	// Output: 200 hello, owner
}
