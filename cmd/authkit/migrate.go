package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var migrateCmd = &command{
	name: "migrate", args: "", summary: "open the store (which migrates it) and report its schema",
	about: `Opens the store, which applies the schema migrations it has not applied yet
(each once, in its own transaction; on PostgreSQL under an advisory lock, so
that it is safe while servers run), and reports the schema: its version, the
migrations applied now and before. An SQLite file that does not exist is
created (0600); this is the only command that creates one. It never creates
a server secret: if one is found, it checks that it opens the signing keys
(a wrong secret would stop every server at start), and fails if it does not.`,
}

func init() { migrateCmd.run = runMigrate }

type migrationOut struct {
	Version   int       `json:"version"`
	AppliedAt time.Time `json:"applied_at"`
}

type migrateOut struct {
	Backend    string         `json:"backend"` // sqlite or postgres
	Database   string         `json:"database"`
	Created    bool           `json:"created"` // a new SQLite file
	Version    int            `json:"version"`
	Migrations []migrationOut `json:"migrations"`
	AppliedNow []int          `json:"applied_now"`
	Secret     string         `json:"secret"` // ok, missing, no signing key yet
}

func runMigrate(c *cli, ctx context.Context, args []string) error {
	var o opts
	fset := c.flags(migrateCmd, &o)
	rest, err := c.parse(fset, args)
	if err != nil {
		return err
	}
	if err := nargs(rest); err != nil {
		return err
	}
	out := migrateOut{Backend: "sqlite", Database: redact(o.db), AppliedNow: []int{}}
	if isPostgres(o.db) {
		out.Backend = "postgres"
	} else if _, err := os.Stat(o.db); errors.Is(err, fs.ErrNotExist) {
		out.Created = true
	}
	var before []migrationOut
	if !out.Created {
		if before, err = schemaState(ctx, &o); err != nil {
			return err
		}
	}
	e, ctx, err := c.open(ctx, &o, true)
	if err != nil {
		return err
	}
	defer e.close()
	if out.Migrations, err = schemaState(ctx, &o); err != nil {
		return err
	}
	had := map[int]bool{}
	for _, m := range before {
		had[m.Version] = true
	}
	for _, m := range out.Migrations {
		out.Version = max(out.Version, m.Version)
		if !had[m.Version] {
			out.AppliedNow = append(out.AppliedNow, m.Version)
		}
	}
	out.Secret, err = e.checkSecret(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(c.stdout, out)
	}
	what := "Opened"
	if out.Created {
		what = "Created"
	}
	fmt.Fprintf(c.stdout, "%s %s database %s: schema version %d (%d migrations", what, out.Backend, out.Database, out.Version, len(out.Migrations))
	if len(out.AppliedNow) == 0 {
		fmt.Fprintln(c.stdout, ", none pending).")
	} else {
		fmt.Fprintf(c.stdout, "; applied now: %v).\n", out.AppliedNow)
	}
	switch out.Secret {
	case "ok":
		fmt.Fprintln(c.stdout, "The server secret opens the signing keys.")
	case "missing":
		fmt.Fprintf(c.stdout, "No server secret found (%s or %s): not checked.\n", secretEnv, e.secretPath())
	case "no signing key":
		fmt.Fprintln(c.stdout, "No signing key yet: the first server makes one.")
	}
	return nil
}

// checkSecret reports whether the server secret, if there is one, opens
// the active signing key: "ok", "missing" (no secret to check), "no
// signing key"; an error if it does not open it.
func (e *env) checkSecret(ctx context.Context) (string, error) {
	if _, err := e.loadSecret(); err != nil {
		if _, serr := os.Stat(e.secretPath()); errors.Is(serr, fs.ErrNotExist) && os.Getenv(secretEnv) == "" {
			return "missing", nil
		}
		return "", err
	}
	ks, err := e.store.SigningKeys(ctx)
	if err != nil {
		return "", err
	}
	active := false
	for _, k := range ks {
		active = active || signs(k)
	}
	if !active {
		return "no signing key", nil
	}
	// With an active key, the token service makes none: it opens them all.
	if _, err := e.signingService(ctx, "", 24*time.Hour); err != nil {
		return "", fmt.Errorf("the server secret does not open the store's signing keys (the wrong secret?): %w", err)
	}
	return "ok", nil
}

// schemaState reads the migrations the database has recorded, without
// changing it; none for a database authkit never opened.
func schemaState(ctx context.Context, o *opts) ([]migrationOut, error) {
	out := []migrationOut{}
	if isPostgres(o.db) {
		cc, err := pgx.ParseConfig(o.db)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", redact(o.db), err)
		}
		if o.schema != "" {
			cc.RuntimeParams["search_path"] = o.schema
		}
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", redact(o.db), err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
		if err == nil {
			for rows.Next() {
				var m migrationOut
				if err = rows.Scan(&m.Version, &m.AppliedAt); err != nil {
					break
				}
				m.AppliedAt = m.AppliedAt.UTC()
				out = append(out, m)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000") { // no such table, no such schema
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read the schema's migrations: %w", err)
		}
		return out, nil
	}
	db, err := sql.Open("sqlite", "file:"+o.db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return out, nil
		}
		return nil, fmt.Errorf("read the schema's migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m migrationOut
		var at int64
		if err := rows.Scan(&m.Version, &at); err != nil {
			return nil, err
		}
		m.AppliedAt = time.UnixMicro(at).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}
