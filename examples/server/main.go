// Command server is authkit's example server: every guide in
// shared/seeds mounted on one mux over one SQLite file, so that each
// guide's curl commands work against it.
//
//	go run ./examples/server
//
// Flags: -addr (default 127.0.0.1:8080), -db (default authkit.db, created
// 0600; .gitignore keeps it and its secret out of the repository),
// -secret-file (default: the db path plus ".secret", created 0600 on first
// run; the AUTHKIT_SECRET environment variable wins), -user name:password
// (repeatable; with none, a "demo" user is created and its random password
// printed once), -issuer (default http:// + addr), -read-timeout,
// -write-timeout and -idle-timeout (15 s, 30 s, 1 min).
//
// With -db postgres://… the server keeps everything in PostgreSQL, and
// several servers can share it: give them the same AUTHKIT_SECRET and the
// same -issuer. The counts behind keys' rate limits and credits live in
// Redis with -redis redis://…, else in PostgreSQL with -db postgres://…,
// else (SQLite) in the process; -fail-open lets requests through while
// they cannot be reached (default: 503). -trusted-proxy CIDR (repeatable)
// reads the client address from X-Forwarded-For behind those proxies.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/examples/internal/httplog"
	"github.com/authkit/authkit/httpmw"
	"github.com/authkit/authkit/storage/postgres"
	"github.com/authkit/authkit/storage/redis"
	"github.com/authkit/authkit/storage/sqlite"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for the users table on PostgreSQL
)

type userFlags []string

func (u *userFlags) String() string     { return strings.Join(*u, ",") }
func (u *userFlags) Set(s string) error { *u = append(*u, s); return nil }

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dbPath := fs.String("db", "authkit.db", "SQLite database file, or a postgres:// URL")
	secretFile := fs.String("secret-file", "", "server secret file (default: the db path + .secret, or authkit.secret for PostgreSQL; env AUTHKIT_SECRET wins)")
	issuer := fs.String("issuer", "", "token issuer (default http:// + addr)")
	readTimeout := fs.Duration("read-timeout", 15*time.Second, "longest time to read a request, body included")
	writeTimeout := fs.Duration("write-timeout", 30*time.Second, "longest time to write a response")
	idleTimeout := fs.Duration("idle-timeout", time.Minute, "how long an idle keep-alive connection is kept")
	redisURL := fs.String("redis", "", "redis:// URL of the counters shared by servers (default: PostgreSQL with -db postgres://, else in process)")
	failOpen := fs.Bool("fail-open", false, "let requests through uncounted while the counters are down (default: 503)")
	var users, proxies userFlags
	fs.Var(&users, "user", "a user as name:password (repeatable)")
	fs.Var(&proxies, "trusted-proxy", "a reverse proxy's address or CIDR range, whose X-Forwarded-For is believed (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pg := strings.HasPrefix(*dbPath, "postgres://") || strings.HasPrefix(*dbPath, "postgresql://")
	if *secretFile == "" {
		*secretFile = *dbPath + ".secret"
		if pg {
			*secretFile = "authkit.secret"
		}
	}
	if *issuer == "" {
		*issuer = "http://" + *addr
	}
	logger := slog.New(slog.NewTextHandler(stdout, nil))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	secret, err := authkit.LoadOrCreateSecret("AUTHKIT_SECRET", *secretFile)
	if err != nil {
		return err
	}
	store, udb, err := openStore(ctx, *dbPath, pg)
	if err != nil {
		return err
	}
	defer store.Close()
	defer udb.Close()
	dir, err := OpenUsers(ctx, udb, 0)
	if err != nil {
		return err
	}
	for _, u := range users {
		name, password, ok := strings.Cut(u, ":")
		if !ok || password == "" {
			return fmt.Errorf("-user %q: want name:password", name)
		}
		if _, err := dir.Set(ctx, name, password); err != nil {
			return err
		}
	}
	if len(users) == 0 {
		password, err := dir.EnsureDemo(ctx)
		if err != nil {
			return err
		}
		if password != "" {
			fmt.Fprintf(stdout, "created user demo with password %s (shown once)\n", password)
		}
	}

	cfg := Config{Store: store, Secret: secret, Users: dir, Issuer: *issuer, Logger: logger, FailOpen: *failOpen}
	switch {
	case *redisURL != "":
		rc, err := redis.Open(ctx, *redisURL, redis.Config{})
		if err != nil {
			return err
		}
		defer rc.Close()
		cfg.Counters = rc
	case pg:
		cfg.Counters = store.(authkit.Counters)
	}
	if len(proxies) > 0 {
		cfg.Clients = &httpmw.ClientAddr{}
		for _, p := range proxies {
			pr, err := netip.ParsePrefix(p)
			if a, aerr := netip.ParseAddr(p); aerr == nil {
				pr, err = netip.PrefixFrom(a, a.BitLen()), nil
			}
			if err != nil {
				return fmt.Errorf("-trusted-proxy %q: %w", p, err)
			}
			cfg.Clients.TrustedProxies = append(cfg.Clients.TrustedProxies, pr)
		}
	}
	app, err := NewApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer app.Close()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           httplog.Requests(logger, app),
		ReadHeaderTimeout: min(5*time.Second, *readTimeout),
		ReadTimeout:       *readTimeout,
		WriteTimeout:      *writeTimeout,
		IdleTimeout:       *idleTimeout,
		MaxHeaderBytes:    32 << 10, // 32 KiB: a credential is at most 8 KiB
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening", "addr", ln.Addr().String(), "db", redactDSN(*dbPath))
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

// openStore opens authkit's store and a database/sql handle for the
// example's own users table, on SQLite or PostgreSQL.
func openStore(ctx context.Context, db string, pg bool) (authkit.Store, *sql.DB, error) {
	if pg {
		store, err := postgres.Open(ctx, db, postgres.Config{})
		if err != nil {
			return nil, nil, err
		}
		udb, err := sql.Open("pgx", db)
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		return store, udb, nil
	}
	store, err := sqlite.Open(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	udb, err := sql.Open("sqlite", "file:"+db+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, udb, nil
}

// redactDSN hides a password in a database URL before it is logged.
func redactDSN(db string) string {
	u, err := url.Parse(db)
	if err != nil {
		return "(a -db URL that does not parse)" // it may hold a password
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	return db
}
