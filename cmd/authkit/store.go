package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/user"
	"regexp"
	"strings"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/limits"
	"github.com/authkit/authkit/sessions"
	"github.com/authkit/authkit/storage/postgres"
	"github.com/authkit/authkit/storage/sqlite"
	"github.com/authkit/authkit/tokens"
)

// secretEnv is the environment variable that holds the server secret, as
// for the example server; it wins over the secret file.
const secretEnv = "AUTHKIT_SECRET"

// opts are the flags every command takes.
type opts struct {
	db, schema, secretFile string
	json, verbose          bool
}

// flags returns the FlagSet of cmd with the common flags registered in o.
// Its usage prints cmd's help.
func (c *cli) flags(cmd *command, o *opts) *flag.FlagSet {
	fs := flag.NewFlagSet("authkit "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	def := os.Getenv("AUTHKIT_DB")
	if def == "" {
		def = "authkit.db"
	}
	fs.StringVar(&o.db, "db", def, "the store: an SQLite `file`, or a postgres:// URL (default $AUTHKIT_DB, else authkit.db)")
	fs.StringVar(&o.schema, "schema", "", "PostgreSQL: the `schema` of authkit's tables (default: the search_path's)")
	fs.StringVar(&o.secretFile, "secret-file", "", "the server secret's 0600 `file` (default <db>.secret for SQLite, authkit.secret for PostgreSQL); $"+secretEnv+" wins")
	fs.BoolVar(&o.json, "json", false, "print JSON, for scripts")
	fs.BoolVar(&o.verbose, "v", false, "log what the library does (its audit records) to stderr")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: authkit %s [flags] %s\n\n", cmd.name, cmd.args)
		fmt.Fprintln(w, cmd.about)
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Flags:")
		fs.PrintDefaults()
		fmt.Fprintln(w)
		fmt.Fprintln(w, exitCodesHelp)
	}
	return fs
}

// parse parses args with fs, flags and arguments in any order (a lone "-"
// is an argument), and returns the arguments. -h prints the help to
// stdout and returns flag.ErrHelp; a bad flag is a usage error.
func (c *cli) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		fs.SetOutput(io.Discard)
		err := fs.Parse(args)
		fs.SetOutput(c.stderr)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(c.stdout)
			fs.Usage()
			return nil, flag.ErrHelp
		}
		if err != nil {
			return nil, usagef("%v (-h for help)", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

// nargs checks that the command got n arguments, named names.
func nargs(args []string, names ...string) error {
	if len(args) != len(names) {
		if len(names) == 0 {
			return usagef("takes no arguments, got %d", len(args)) // not quoted: a misplaced DSN may hold a password
		}
		return usagef("want %s, got %d argument(s)", strings.Join(names, " "), len(args))
	}
	return nil
}

// env is an open store and what the command built on it.
type env struct {
	c      *cli
	o      *opts
	store  authkit.Store
	pg     bool
	logger *slog.Logger
	actor  authkit.Actor
	secret *authkit.Secret // once loaded
	g      *limits.Gate    // once built (keys.go's gate)

	closers []func()
}

// isPostgres reports whether db names a PostgreSQL database.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// redact hides a password in a database URL, or in a key=value DSN; a
// string that is neither is not shown at all.
func redact(db string) string {
	if strings.Contains(db, "password=") {
		return passwordField.ReplaceAllString(db, "password=xxxxx")
	}
	u, err := url.Parse(db)
	if err != nil {
		return "(the -db value, which does not parse)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	return db
}

var passwordField = regexp.MustCompile(`password=\S*`)

// open opens the store o names. Only create may make a new SQLite file.
// The context it returns carries the admin actor: every change made
// with it is recorded as the admin command's.
func (c *cli) open(ctx context.Context, o *opts, create bool) (*env, context.Context, error) {
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	e := &env{c: c, o: o, pg: isPostgres(o.db), logger: slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: level}))}
	if o.db == "" {
		return nil, nil, usagef("-db is empty")
	}
	var err error
	if e.pg {
		e.store, err = postgres.Open(ctx, o.db, postgres.Config{Schema: o.schema, MaxConns: 4})
		if err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", redact(o.db), err)
		}
	} else {
		if o.schema != "" {
			return nil, nil, usagef("-schema is for PostgreSQL only")
		}
		if _, err := os.Stat(o.db); errors.Is(err, fs.ErrNotExist) && !create {
			return nil, nil, fmt.Errorf("no database at %s (authkit migrate -db %[1]s creates one; the server does too)", redact(o.db))
		}
		if e.store, err = sqlite.Open(ctx, o.db); err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", redact(o.db), err)
		}
	}
	e.actor = adminActor()
	return e, authkit.WithActor(ctx, e.actor), nil
}

// adminActor is the actor of the changes this run makes: the admin
// command, as the operating-system user who runs it, with a request id of
// its own so that the events of one run can be told apart.
func adminActor() authkit.Actor {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	var b [8]byte
	rand.Read(b[:])
	return authkit.Actor{Kind: authkit.ActorAdmin, ID: name, RequestID: "cli-" + hex.EncodeToString(b[:])}
}

// close releases the services and the store.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.store.Close()
}

// secretPath returns the server secret's file.
func (e *env) secretPath() string {
	switch {
	case e.o.secretFile != "":
		return e.o.secretFile
	case e.pg:
		return "authkit.secret"
	}
	return e.o.db + ".secret"
}

// loadSecret loads the server secret (never creating one). Its errors
// name the file, never the secret, and are failures (exit 1), never
// usage errors.
func (e *env) loadSecret() (*authkit.Secret, error) {
	if e.secret != nil {
		return e.secret, nil
	}
	s, err := authkit.LoadSecret(secretEnv, e.secretPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no server secret: set %s or -secret-file (the server creates %s on its first run)", secretEnv, e.secretPath())
	}
	if err != nil {
		return nil, fmt.Errorf("server secret: %v", err) // %v: a bad secret is a failure, not a usage error
	}
	e.secret = s
	return s, nil
}

// keys returns the key service, with no cache (every read goes to the
// store) and nothing written in the background. prefix is the keys'
// prefix ("" for the library's default, "ak").
func (e *env) keys(prefix string) (*keys.Service, error) {
	s, err := e.loadSecret()
	if err != nil {
		return nil, err
	}
	ks, err := keys.New(keys.Config{Store: e.store, Secret: s, Prefix: prefix, CacheTTL: -1, FlushEvery: -1, Logger: e.logger})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { ks.Close() })
	return ks, nil
}

// tokens returns the token service. tokens.New makes the first signing
// key of a store that has none, as a server does at start.
func (e *env) tokens(ctx context.Context, cfg tokens.Config) (*tokens.Service, error) {
	s, err := e.loadSecret()
	if err != nil {
		return nil, err
	}
	cfg.Store, cfg.Secret, cfg.Logger = e.store, s, e.logger
	cfg.CacheSize, cfg.LivenessTTL = -1, -1
	ts, err := tokens.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, ts.Close)
	return ts, nil
}

// sessions returns the session manager, for listing and revoking: it
// issues no token (so no signing key is needed or made).
func (e *env) sessions() (*sessions.Manager, error) {
	s, err := e.loadSecret()
	if err != nil {
		return nil, err
	}
	return sessions.New(sessions.Config{Store: e.store, Tokens: noIssuer{}, Secret: s, Logger: e.logger})
}

// noIssuer is the token issuer of a session manager that only lists and
// revokes.
type noIssuer struct{}

func (noIssuer) Issue(context.Context, authkit.TokenRequest) (string, *authkit.Claims, error) {
	return "", nil, errors.New("the admin command issues no token")
}

// now is the time the command acts at, as the library's clock tells it.
func now() time.Time { return authkit.Clock(nil).Now() }
