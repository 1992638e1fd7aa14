// Command product is a small videos API in a process of its own that
// trusts examples/server's tokens, given only its issuer URL: it discovers
// the token service (RFC 8414), verifies tokens locally with its keys, and
// follows its revocation feed, so that a revoked session's token is
// refused here within a second.
//
//	go run ./examples/product -addr 127.0.0.1:8090 -issuer http://127.0.0.1:8080
//
// Routes: GET /videos (videos:read), POST /videos (videos:write), GET
// /healthz; each takes an access token (bearer or bare) or an application
// key (Basic user name or bearer), which the token service checks and this
// process trusts for 30 s at most, less if the feed says it changed. Flags: -addr, -issuer, -max-stale (how long the feed may be
// silent before tokens are refused; default 10 s), -on-stale refuse|check
// (check: ask the token service's validation endpoint instead).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/examples/internal/httplog"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/verifier"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "product:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("product", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	issuer := fs.String("issuer", "http://127.0.0.1:8080", "the token service's issuer URL")
	maxStale := fs.Duration("max-stale", verifier.DefaultMaxStale, "how long the revocation feed may be silent before tokens are refused")
	onStale := fs.String("on-stale", "refuse", "refuse, or check (ask the token service) while the feed is stale")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stdout, nil))
	cfg := verifier.Config{Issuer: *issuer, MaxStale: *maxStale, Logger: logger}
	switch *onStale {
	case "refuse":
	case "check":
		cfg.OnStale = verifier.CheckRemotely
	default:
		return fmt.Errorf("-on-stale %q: want refuse or check", *onStale)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	v, err := verifier.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer v.Close()

	auth := &httpmw.Auth{Tokens: v, Keys: v, Accept: httpmw.AcceptBearerToken | httpmw.AcceptBareToken | httpmw.AcceptBasicKey | httpmw.AcceptBearerKey,
		Responder: httpmw.Responder{Envelope: httpmw.ProblemDetails, Logger: logger}}
	api := &videos{byOwner: map[string][]video{}}
	mux := http.NewServeMux()
	mux.Handle("GET /videos", auth.Verify(auth.Require("videos:read")(http.HandlerFunc(api.list))))
	mux.Handle("POST /videos", auth.Verify(auth.Require("videos:write")(http.HandlerFunc(api.create))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           httplog.Requests(logger, mux),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: 32 << 10,
	}
	logger.Info("listening", "addr", ln.Addr().String(), "issuer", *issuer)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type video struct {
	VideoID   string    `json:"videoId"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"createdAt"`
}

// videos is the demo resource: each owner's videos, in memory.
type videos struct {
	mu      sync.Mutex
	byOwner map[string][]video
}

func (v *videos) list(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.FromContext(r.Context())
	v.mu.Lock()
	out := append([]video{}, v.byOwner[p.Owner()]...)
	v.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (v *videos) create(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.FromContext(r.Context())
	var body struct {
		Title string `json:"title"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		httpmw.Responder{Envelope: httpmw.ProblemDetails}.Error(w, r, &httpmw.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "the body must be a JSON object"})
		return
	}
	if body.Title == "" {
		body.Title = "untitled"
	}
	vd := video{VideoID: fmt.Sprintf("vi%d", time.Now().UnixNano()), Title: body.Title, CreatedAt: time.Now().UTC()}
	v.mu.Lock()
	v.byOwner[p.Owner()] = append(v.byOwner[p.Owner()], vd)
	v.mu.Unlock()
	writeJSON(w, http.StatusCreated, vd)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
