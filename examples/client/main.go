// Command client calls the example server's /videos through authkit's
// client, which exchanges the API key for a token and keeps it fresh. The
// key comes from the environment, never from code:
//
//	AUTHKIT_API_KEY=ak_live_… go run ./examples/client -base http://127.0.0.1:8080
//
// Flags: -base (the server), -flow apivideo|inlive|login|oauth, -client-id
// (the key's ID, for -flow oauth), -n (how many requests).
//
// Each -flow is one guide the example server speaks, configured here as one
// of the client package's vendor-neutral flows (see flowFor).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/authkit/authkit/client"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	base := fs.String("base", "http://127.0.0.1:8080", "the API's base URL")
	flowName := fs.String("flow", "apivideo", strings.Join(flowNames, ", "))
	clientID := fs.String("client-id", "", "the key's ID, for -flow oauth")
	n := fs.Int("n", 2, "how many requests to make")
	if err := fs.Parse(args); err != nil {
		return err
	}
	flow, err := flowFor(*flowName, *clientID)
	if err != nil {
		return err
	}
	src, err := client.NewTokenSource(ctx, client.Config{BaseURL: *base, Flow: flow}) // key from AUTHKIT_API_KEY
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &client.Transport{Source: src}}
	for range *n {
		req, _ := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(*base, "/")+"/videos", nil)
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		res.Body.Close()
		fmt.Fprintf(out, "GET /videos: %d %s\n", res.StatusCode, strings.TrimSpace(string(body)))
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /videos answered %d", res.StatusCode)
		}
	}
	return nil
}

// flowNames are the values of -flow.
var flowNames = []string{"apivideo", "inlive", "login", "oauth"}

// flowFor returns the flow of the guide name, with the paths and member
// names the example server mounts for it (examples/server/app.go).
func flowFor(name, clientID string) (client.Flow, error) {
	switch name {
	case "apivideo":
		// api.video: {"apiKey"} → OAuth names; {"refreshToken"} at another path.
		return client.KeyExchange{Path: "/auth/api-key", KeyField: "apiKey", RefreshPath: "/auth/refresh", RefreshField: "refreshToken"}, nil
	case "inlive":
		// Inlive: the key, then the refresh token, as Bearer to one path,
		// the lifetime asked for and answered in "expiry_seconds", the
		// answer in {"code","ok","message","data"}.
		return client.KeyExchange{
			Path: "/v1/keys/accesstoken", Body: map[string]any{"expiry_seconds": 3600},
			Envelope: "data", ExpiresField: "expiry_seconds",
		}, nil
	case "login":
		// The login guide: {"api_key","session_id"}, one session per process.
		return client.Login{Path: "/auth/login"}, nil
	case "oauth":
		// OAuth 2.0 client credentials: the key's ID is the client id.
		return client.ClientCredentials{Path: "/oauth/token", ClientID: clientID}, nil
	}
	return nil, fmt.Errorf("unknown -flow %q: one of %s", name, strings.Join(flowNames, ", "))
}
