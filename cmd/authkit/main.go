// Command authkit is the admin command of an authkit store: it manages
// keys, sessions and signing keys, reads the audit trail, collects expired
// records and inspects access tokens, on the SQLite file or the PostgreSQL
// database a server runs on, while it runs.
//
//	authkit migrate -db authkit.db
//	authkit keys create -db authkit.db -owner alice -scopes videos:read
//	authkit keys list -db authkit.db -owner alice
//	authkit signing-keys revoke -db postgres://… 0197…
//	authkit token inspect -db authkit.db - < token.txt
//
// # Commands
//
//	migrate                      open the store (which migrates it) and report its schema
//	keys create -owner O         create a key; its secret is printed this once
//	keys list -owner O           list the owner's live keys (never a secret)
//	keys show -owner O KEY       show one key (by ID or handle)
//	keys policy -owner O KEY     set rate limits, credits, allowed addresses, metadata
//	keys disable|enable -owner O KEY
//	keys rotate -owner O KEY     a new secret, printed this once; -grace keeps the old one
//	keys delete -owner O KEY     delete the key: it and its tokens stop at once
//	sessions list -owner O       list the owner's live sessions
//	sessions revoke -owner O ID  revoke a session: its tokens stop at once
//	signing-keys list            the signing keys and their states
//	signing-keys rotate          a new signing key signs; the old ones verify on
//	signing-keys revoke KID      a leaked signing key: its tokens are refused at once
//	secret status                which server secrets the store's sealed values need
//	secret rotate                put a new server secret first in the secret file
//	secret rewrap                seal again under the current secret what previous ones sealed
//	secret drop                  remove the previous secrets, once nothing needs them
//	audit list [-owner O]        the audit trail, newest last
//	cleanup                      delete what has expired (what the server's housekeeping does)
//	token inspect [TOKEN|-]      decode an access token, verify it, and say whether it is alive and why not
//
// Every command takes -h for its help, -json for output a script can
// parse, and the store's flags: -db (an SQLite file, or a postgres:// URL;
// default $AUTHKIT_DB, else authkit.db), -schema (PostgreSQL: the schema,
// default the search_path's), and, for the commands that need the server
// secret, -secret-file (default: the SQLite file's path plus ".secret", or
// authkit.secret for PostgreSQL, as the example server); the
// AUTHKIT_SECRET environment variable wins over the file. The command never
// creates a server secret, never prints it, and creates a database only in
// migrate.
//
// Changes go through the library's own services (keys, sessions, tokens),
// exactly as over HTTP: each lands in the audit trail with the actor kind
// "admin" and the operating-system user's name, and reaches running servers
// as their own revocations do (the store's notifications: on PostgreSQL,
// LISTEN/NOTIFY; on SQLite, the revocation log every process polls).
//
// # Exit codes
//
//	0  done (token inspect: the token was inspected, alive or not)
//	1  the store or the command failed (a database error, a handle in use, no server secret)
//	2  usage: an unknown command or flag, a missing or bad argument
//	3  not found: no such key, session or signing key (for that owner)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/authkit/authkit"
)

// The exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli is one run of the command: its streams.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is a subcommand: its name as typed ("keys create"), what it
// takes, a one-line summary, and its body.
type command struct {
	name    string
	args    string // e.g. "-owner O KEY"
	summary string
	about   string // the help's paragraph
	run     func(c *cli, ctx context.Context, args []string) error
}

// commands lists every subcommand, in the order help shows them.
var commands []*command

func init() {
	commands = []*command{
		migrateCmd,
		keysCreateCmd, keysListCmd, keysShowCmd, keysPolicyCmd, keysDisableCmd, keysEnableCmd, keysRotateCmd, keysDeleteCmd,
		sessionsListCmd, sessionsRevokeCmd,
		signingListCmd, signingRotateCmd, signingRevokeCmd,
		secretStatusCmd, secretRotateCmd, secretRewrapCmd, secretDropCmd,
		auditListCmd, cleanupCmd, tokenInspectCmd,
	}
}

const exitCodesHelp = `Exit codes: 0 done, 1 the store or the command failed, 2 usage error,
3 not found (no such key, session or signing key).`

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		c.usage(stderr, "")
		return exitUsage
	}
	if a := args[0]; a == "-h" || a == "-help" || a == "--help" || a == "help" {
		c.usage(stdout, strings.Join(args[1:], " "))
		return exitOK
	}
	cmd, rest := find(args)
	if cmd == nil {
		group := args[0]
		if isGroup(group) {
			if len(args) > 1 && (args[1] == "-h" || args[1] == "-help" || args[1] == "--help") {
				c.usage(stdout, group)
				return exitOK
			}
			fmt.Fprintf(stderr, "authkit: %s: unknown or missing subcommand\n\n", group)
			c.usage(stderr, group)
			return exitUsage
		}
		fmt.Fprintf(stderr, "authkit: unknown command %q (authkit -h lists them)\n", group)
		return exitUsage
	}
	err := cmd.run(c, ctx, rest)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	code := codeOf(err)
	fmt.Fprintf(stderr, "authkit %s: %v\n", cmd.name, err)
	return code
}

// find returns the command args name (one or two words) and the rest.
func find(args []string) (*command, []string) {
	for _, cmd := range commands {
		words := strings.Fields(cmd.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == cmd.name {
			return cmd, args[len(words):]
		}
	}
	return nil, nil
}

func isGroup(word string) bool {
	for _, cmd := range commands {
		if g, _, ok := strings.Cut(cmd.name, " "); ok && g == word {
			return true
		}
	}
	return false
}

// usage writes the list of commands (those of group, if not empty).
func (c *cli) usage(w io.Writer, group string) {
	if group == "" {
		fmt.Fprintln(w, "authkit is the admin command of an authkit store (SQLite or PostgreSQL).")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Usage: authkit <command> [flags] [arguments]")
	} else {
		fmt.Fprintf(w, "Usage: authkit %s <subcommand> [flags] [arguments]\n", group)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, cmd := range commands {
		if group != "" && !strings.HasPrefix(cmd.name, group+" ") && cmd.name != group {
			continue
		}
		fmt.Fprintf(w, "  %-44s %s\n", cmd.name+" "+cmd.args, cmd.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Each command takes -h for its help and its flags, -json for output scripts
parse, and -db (an SQLite file or a postgres:// URL; default $AUTHKIT_DB,
else authkit.db). The server secret comes from AUTHKIT_SECRET or
-secret-file (default: <db>.secret for SQLite, authkit.secret for
PostgreSQL); it is never created nor printed.`)
	fmt.Fprintln(w)
	fmt.Fprintln(w, exitCodesHelp)
}

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// codeOf returns the exit code of err.
func codeOf(err error) int {
	var ue *usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, authkit.ErrInvalid):
		return exitUsage
	case errors.Is(err, authkit.ErrNotFound):
		return exitNotFound
	}
	return exitFailure
}
