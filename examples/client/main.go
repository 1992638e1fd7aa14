// Command client calls the example server's /videos through authkit's
// client, which exchanges the API key for a token and keeps it fresh. The
// key comes from the environment, never from code:
//
//	AUTHKIT_API_KEY=ak_live_… go run ./examples/client -base http://127.0.0.1:8080
//
// Flags: -base (the server), -flow apivideo|inlive|login|oauth, -client-id
// (the key's ID, for -flow oauth), -n (how many requests).
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
	flowName := fs.String("flow", "apivideo", "apivideo, inlive, login or oauth")
	clientID := fs.String("client-id", "", "the key's ID, for -flow oauth")
	n := fs.Int("n", 2, "how many requests to make")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var flow client.Flow
	switch *flowName {
	case "apivideo":
		flow = client.APIVideo{}
	case "inlive":
		flow = client.Inlive{}
	case "login":
		flow = client.Login{}
	case "oauth":
		flow = client.ClientCredentials{ClientID: *clientID}
	default:
		return fmt.Errorf("unknown -flow %q", *flowName)
	}
	src, err := client.NewTokenSource(client.Config{BaseURL: *base, Flow: flow}) // key from AUTHKIT_API_KEY
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
