package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/handlers"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/page"
	"github.com/authkit/authkit/server"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/tokens"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Config is what the example app is built from.
type Config struct {
	Store  authkit.Store   // required
	Secret *authkit.Secret // required
	Users  *Users          // required
	Issuer string          // iss and aud of the tokens; default "http://127.0.0.1:8080"
	Clock  authkit.Clock   // nil: the system clock
	Logger *slog.Logger    // nil: slog.Default()
	// Limiter counts failed credentials; nil: 10 a minute per address.
	Limiter *httpmw.Limiter
	// Counters keep the keys' rate limits and credits: Redis or
	// PostgreSQL to share them between servers; nil: in this process.
	Counters authkit.Counters
	// FailOpen lets requests through uncounted while the Counters fail
	// (default: 503).
	FailOpen bool
	// Clients reads the client address behind trusted proxies; nil:
	// RemoteAddr.
	Clients *httpmw.ClientAddr
}

// App is the example server: every guide's routes on one mux, over one
// authkit server.Server.
type App struct {
	cfg      Config
	ak       *server.Server
	meters   *sdkmetric.MeterProvider // authkit's metrics, served at GET /metrics
	metrics  http.Handler
	Keys     *keys.Service
	Tokens   *tokens.Service
	Sessions *sessions.Manager
	mux      *http.ServeMux

	routes []string // the patterns mounted, in order: checked against openapi.json

	mu     sync.Mutex
	rooms  map[string]room
	videos map[string][]video
}

// NewApp builds authkit with server.New (which also runs the cleanup and
// the signing-key rotation) and mounts the routes.
func NewApp(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = "http://127.0.0.1:8080"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Limiter == nil {
		cfg.Limiter = &httpmw.Limiter{} // 10 failures a minute per address
	}
	// authkit speaks OpenTelemetry's metrics API; the app picks the SDK
	// and the exporter: here Prometheus's, on a registry of the app's own,
	// scraped at GET /metrics.
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	ak, err := server.New(ctx, server.Config{
		Store: cfg.Store, Secret: cfg.Secret, Issuer: cfg.Issuer, Clock: cfg.Clock, Logger: cfg.Logger,
		Limiter: cfg.Limiter, LoginTTL: 2 * time.Hour, // the login guide's 7200 s
		Counters: cfg.Counters, FailOpen: cfg.FailOpen, Clients: cfg.Clients, MeterProvider: meters,
	})
	if err != nil {
		meters.Shutdown(ctx)
		return nil, err
	}
	a := &App{cfg: cfg, ak: ak, meters: meters, metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		Keys: ak.Keys, Tokens: ak.Tokens, Sessions: ak.Sessions, mux: http.NewServeMux(),
		rooms: map[string]room{}, videos: map[string][]video{}}
	a.mount()
	return a, nil
}

// Close stops authkit's housekeeping and its metrics (not the store, which
// the caller owns).
func (a *App) Close() {
	a.ak.Close()
	a.meters.Shutdown(context.Background())
}

// ServeHTTP serves the app's routes. Every response is nosniff.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	a.mux.ServeHTTP(w, r)
}

// The scopes of the demo video resource; a key created with no scopes gets both.
var videoScopes = []string{"videos:read", "videos:write"}

// handle mounts h at pattern and records the pattern.
func (a *App) handle(pattern string, h http.Handler) {
	a.mux.Handle(pattern, h)
	a.routes = append(a.routes, pattern)
}

// The shapes of the guides this server speaks.
var (
	// Inlive wraps every body in {"code","ok","message","data"} and calls
	// the lifetime "expiry_seconds"; an expired token is 403.
	inliveFields = handlers.TokenFields{AccessToken: "access_token", RefreshToken: "refresh_token", ExpiresIn: "expiry_seconds"}
	inlive       = httpmw.Responder{Envelope: httpmw.DataEnvelope, ExpiredStatus: http.StatusForbidden}
)

// apiVideoProblem is api.video's error shape: RFC 9457 problem details
// with a "name" member, which its SDKs print (their ErrorResponse reads
// type, title and name); a refused key or refresh token is 400.
func apiVideoProblem(status int, message string, data any, e *httpmw.Error) any {
	if e == nil {
		return data
	}
	name := e.Code
	if name == "" { // no credential was sent: RFC 6750 gives no code
		name = "authentication_required"
	}
	return struct {
		httpmw.Problem
		Name string `json:"name"`
	}{httpmw.ProblemFor(status, e), name}
}

func (a *App) mount() {
	ep := a.ak.Endpoints

	// Who may call what. Each route group accepts its guide's credentials.
	// The example's users sign in with HTTP Basic, in a browser too (the
	// integration page): the Basic challenge makes the browser ask once and
	// resend, and CSRF keeps other sites from riding on those credentials.
	a.cfg.Users.Limiter = a.cfg.Limiter // failed sign-ins are limited like failed keys
	user := &httpmw.Auth{Users: a.cfg.Users.Authenticate, Accept: httpmw.AcceptUser,
		Responder: httpmw.Responder{BasicChallenge: true, Logger: a.cfg.Logger}}
	signedIn := func(h http.Handler) http.Handler { return httpmw.CSRF()(user.Authenticate(h)) }
	userKeyOrToken := a.ak.Auth(httpmw.AcceptUser | httpmw.AcceptBearerKey | httpmw.AcceptBearerToken)
	userKeyOrToken.Users = a.cfg.Users.Authenticate
	inliveAuth := a.ak.Auth(httpmw.AcceptBearerToken)
	inliveAuth.Responder.Envelope, inliveAuth.Responder.ExpiredStatus = inlive.Envelope, inlive.ExpiredStatus
	videos := a.ak.Auth(httpmw.AcceptBasicKey | httpmw.AcceptBearerToken | httpmw.AcceptBareToken)
	videos.Responder.Envelope = apiVideoProblem

	// The keytoken guide: keys managed by a signed-in user; the key's token read back.
	ko := handlers.KeyOptions{Recoverable: true, DefaultScopes: videoScopes}
	a.handle("POST /user/keys", signedIn(ep.CreateKey(ko)))
	a.handle("GET /user/keys", signedIn(ep.ListKeys(ko)))
	a.handle("GET /user/keys/{key}", signedIn(ep.GetKey(ko)))
	a.handle("DELETE /user/keys/{key}", signedIn(ep.DeleteKey(ko)))
	a.handle("PATCH /user/keys/{key}", signedIn(ep.UpdateKey(ko)))
	a.handle("POST /user/keys/{key}/rotate", signedIn(ep.RotateKey(ko)))
	a.handle("GET /user/keys/{key}/usage", signedIn(ep.KeyUsage(ko)))
	a.handle("GET /user/sessions", signedIn(ep.ListSessions(handlers.SessionOptions{})))
	a.handle("GET /user/audit", signedIn(ep.AuditLog(handlers.AuditOptions{})))
	a.handle("DELETE /user/sessions/{id}", signedIn(ep.RevokeSession(handlers.SessionOptions{})))

	// The integration page (Inlive's and api.video's dashboards), for the
	// same signed-in users, over the handlers above.
	a.handle("GET /integration/", signedIn(page.New(page.Options{Title: "API keys", Scopes: videoScopes, DefaultScopes: ko.DefaultScopes, Recoverable: ko.Recoverable})))

	// The OpenAPI document of every route here.
	a.handle("GET /openapi.json", http.HandlerFunc(serveOpenAPI))
	a.handle("GET /user", userKeyOrToken.Authenticate(http.HandlerFunc(a.getUser)))

	// Inlive: key → access token; validate; a product API behind it.
	a.handle("POST /v1/keys/accesstoken", ep.Exchange(handlers.ExchangeOptions{
		AcceptRefreshBearer: true, TTLField: "expiry_seconds", TTL: time.Hour, MaxTTL: 24 * time.Hour, Flow: "inlive",
		Fields: inliveFields, Envelope: httpmw.DataEnvelope, Message: "access token created",
	}))
	a.handle("POST /v1/keys/validate", ep.Validate(handlers.ValidateOptions{Envelope: httpmw.DataEnvelope, ExpiredStatus: http.StatusForbidden, Message: "access token is valid"}))
	a.handle("POST /v1/rooms/create", inliveAuth.Authenticate(http.HandlerFunc(a.createRoom)))
	a.handle("GET /v1/rooms/{id}", inliveAuth.Authenticate(http.HandlerFunc(a.getRoom)))

	// api.video: key → bearer pair; refresh; Basic or bearer or bare on the API.
	// api.video's SDKs exchange the key again each hour: each exchange
	// opens a grant session of a day, not 30, so that a client leaves at
	// most about 24 live ones behind (and never more than the server's cap
	// of sessions per key).
	a.handle("POST /auth/api-key", ep.Exchange(handlers.ExchangeOptions{KeyField: "apiKey", TTL: time.Hour, SessionTTL: 24 * time.Hour, Flow: "api.video",
		Fields: handlers.OAuthFields, Envelope: apiVideoProblem, RefusedStatus: http.StatusBadRequest}))
	a.handle("POST /auth/refresh", ep.Refresh(handlers.RefreshOptions{TokenField: "refreshToken", TTL: time.Hour, Fields: handlers.OAuthFields, Flow: "api.video",
		Envelope: apiVideoProblem, RefusedStatus: http.StatusBadRequest}))
	a.handle("GET /videos", videos.Verify(videos.Require("videos:read")(http.HandlerFunc(a.listVideos))))
	a.handle("POST /videos", videos.Verify(videos.Require("videos:write")(http.HandlerFunc(a.createVideo))))

	// The login guide: an API key, a key's client credentials, or a user's
	// name and password.
	a.handle("POST /auth/login", ep.Login(handlers.LoginOptions{Passwords: a.cfg.Users.Verify}))

	// OAuth 2.0.
	a.handle("POST /oauth/token", ep.OAuthToken(handlers.OAuthOptions{})) // no refresh token for client credentials
	a.handle("POST /oauth/introspect", ep.Introspect())
	a.handle("POST /oauth/revoke", ep.Revoke())
	a.handle("GET /.well-known/jwks.json", ep.JWKS())

	// Product APIs on other machines (examples/product): discovery (RFC
	// 8414) and the revocation feed they follow.
	a.handle("GET /.well-known/oauth-authorization-server", ep.Metadata(handlers.MetadataOptions{
		Issuer: a.cfg.Issuer, Token: "/oauth/token", Introspection: "/oauth/introspect", Revocation: "/oauth/revoke",
		JWKS: "/.well-known/jwks.json", Feed: "/oauth/revocations", Validation: "/v1/keys/validate", KeyCheck: "/oauth/check-key",
		Scopes: videoScopes,
	}))
	a.handle("GET /oauth/revocations", a.ak.Feed)
	a.handle("POST /oauth/check-key", ep.CheckKey())

	a.handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { // alive
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	a.handle("GET /readyz", a.ak.Ready()) // ready: the store answers, the listener listens
	a.handle("GET /livez", a.ak.Live())   // live: the process serves
	// authkit's metrics in Prometheus's text format. A real deployment
	// serves them on an address of its own, or behind its proxy's
	// allow-list: they tell how a server is used.
	a.handle("GET /metrics", a.metrics)
}

func (a *App) getUser(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.FromContext(r.Context())
	u, err := a.cfg.Users.ByID(r.Context(), p.Owner())
	if err != nil {
		if errors.Is(err, authkit.ErrNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such user"})
			return
		}
		a.cfg.Logger.ErrorContext(r.Context(), "get user", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "internal error"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"id": u.ID, "username": u.Username, "created_at": u.CreatedAt, "auth_method": p.Method(), "key_id": p.KeyID()})
}

// room is Inlive's demo resource.
type room struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	owner     string
}

func (a *App) createRoom(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.FromContext(r.Context())
	var body struct {
		Name string `json:"name"`
	}
	if !decodeSmall(w, r, &body, inlive) {
		return
	}
	rm := room{ID: uuid.NewString(), Name: body.Name, CreatedAt: a.cfg.Clock.Now(), owner: p.Owner()}
	a.mu.Lock()
	a.rooms[rm.ID] = rm
	a.mu.Unlock()
	inlive.JSON(w, http.StatusCreated, "room created", rm)
}

func (a *App) getRoom(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.FromContext(r.Context())
	a.mu.Lock()
	rm, ok := a.rooms[r.PathValue("id")]
	a.mu.Unlock()
	if !ok || rm.owner != p.Owner() {
		inlive.Error(w, r, &httpmw.Error{Status: http.StatusNotFound, Code: "not_found", Description: "no such room"})
		return
	}
	inlive.JSON(w, http.StatusOK, "room", rm)
}

// video is api.video's demo resource.
type video struct {
	VideoID   string    `json:"videoId"`
	Title     string    `json:"title"`
	CreatedAt time.Time `json:"createdAt"`
}

func (a *App) listVideos(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.FromContext(r.Context())
	a.mu.Lock()
	vs := append([]video{}, a.videos[p.Owner()]...)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": vs})
}

func (a *App) createVideo(w http.ResponseWriter, r *http.Request) {
	p, _ := authkit.FromContext(r.Context())
	var body struct {
		Title string `json:"title"`
	}
	if !decodeSmall(w, r, &body, httpmw.Responder{Envelope: apiVideoProblem}) {
		return
	}
	if body.Title == "" {
		body.Title = "untitled"
	}
	v := video{VideoID: "vi" + uuid.NewString()[:8], Title: body.Title, CreatedAt: a.cfg.Clock.Now()}
	a.mu.Lock()
	a.videos[p.Owner()] = append(a.videos[p.Owner()], v)
	a.mu.Unlock()
	writeJSON(w, http.StatusCreated, v)
}

// decodeSmall decodes an optional small JSON body into v, answering 400 or
// 413 itself, through rs.
func decodeSmall(w http.ResponseWriter, r *http.Request, v any, rs httpmw.Responder) bool {
	r.Body = http.MaxBytesReader(w, r.Body, handlers.DefaultMaxBody)
	err := json.NewDecoder(r.Body).Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return true
	}
	status, desc := http.StatusBadRequest, "the body must be a JSON object of the right types"
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		status, desc = http.StatusRequestEntityTooLarge, "request body too large"
	}
	rs.Error(w, r, &httpmw.Error{Status: status, Code: "invalid_request", Description: desc})
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
