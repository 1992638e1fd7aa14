// Package sqlite is an authkit.Store on an SQLite file, through
// modernc.org/sqlite (pure Go, no cgo). It passes storage/storagetest.
//
// The database runs in WAL mode with a busy timeout, foreign keys on and
// synchronous=NORMAL; a goroutine of the Store checkpoints the WAL every
// half second, so that commits do not. Writes go through one connection
// in BEGIN IMMEDIATE transactions, so that they never interleave badly;
// new sessions arriving together share a commit. Reads go through a pool
// of their own and never wait for a writer. The hot lookups (a key by
// its secret's hash, a key or session by ID, a login session) are single
// indexed queries on statements prepared once. Times are stored as Unix
// microseconds in UTC.
//
// The schema is embedded (migrations/*.sql); Open applies each migration
// not yet recorded in schema_migrations, in its own transaction, so that a
// file made by an older version opens and migrates.
//
// Several processes on one machine may share a file (a server and the admin
// command, say): each write that revokes also logs the revocation, and every
// Store polls that log (every [RelayEvery]), so a key deleted or a signing
// key revoked by one process is refused by the others within a fraction of
// a second. Apps on several machines use storage/postgres.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/migrate"
	"github.com/authkit/authkit/internal/tick"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is an authkit.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	authkit.Broadcaster
	relay *relay // other processes' revocations

	w, r  *sql.DB    // one writer connection; a pool of readers
	ckpt  *tick.Loop // checkpoint.go
	group group      // group.go

	// Statements of the hot paths (verification, login, refresh), prepared
	// once: reads on the reader pool, writes on the writer connection. The
	// point reads run under context.WithoutCancel: they take microseconds,
	// and a cancelable context costs the driver a goroutine per query.
	keyBySecret, keyByID, sessionByID, loginSession, refreshByHash, liveUpTo *sql.Stmt
	insertSession, insertGrant, replaceToken, insertRefreshSt, spendRefresh  *sql.Stmt
}

// stmts lists the prepared statements, for Close.
func (s *Store) stmts() []*sql.Stmt {
	return []*sql.Stmt{s.keyBySecret, s.keyByID, s.sessionByID, s.loginSession, s.refreshByHash, s.liveUpTo,
		s.insertSession, s.insertGrant, s.replaceToken, s.insertRefreshSt, s.spendRefresh}
}

var _ authkit.Store = (*Store)(nil)

func dsn(path string, write bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if write {
		q.Set("_txlock", "immediate")
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(walBackstop)+")")
	}
	return "file:" + path + "?" + q.Encode()
}

// Open opens (creating if needed) the database file at path and migrates it.
// A new file is created with mode 0600, and SQLite gives its -wal and -shm
// files the same mode: the database holds keyed hashes and sealed secrets,
// for its owner's eyes only.
func Open(ctx context.Context, path string) (*Store, error) {
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	s := &Store{w: w}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if s.r, err = sql.Open("sqlite", dsn(path, false)); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	s.r.SetMaxOpenConns(8)
	s.r.SetMaxIdleConns(8)
	for _, p := range []struct {
		db  *sql.DB
		st  **sql.Stmt
		sql string
	}{
		{s.r, &s.keyBySecret, `SELECT ` + keyCols + `, s.hash, s.sealed, s.created_at, s.expires_at FROM key_secrets s JOIN keys k ON k.id = s.key_id WHERE s.hash = ?`},
		{s.r, &s.keyByID, `SELECT ` + keyCols + ` FROM keys k WHERE k.id = ?`},
		{s.r, &s.sessionByID, `SELECT ` + sessionCols + ` FROM sessions WHERE id = ?`},
		{s.r, &s.loginSession, `SELECT ` + sessionCols + ` FROM sessions WHERE owner = ? AND key_id = ? AND name = ? AND kind = 'login' AND revoked_at = 0`},
		{s.r, &s.liveUpTo, liveUpTo},
		{s.r, &s.refreshByHash, `SELECT hash, session_id, key_id, created_at, expires_at, spent_at, child_sealed FROM refresh_tokens WHERE hash = ?`},
		{s.w, &s.insertSession, `INSERT INTO sessions (` + sessionCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{s.w, &s.insertGrant, `INSERT INTO session_grants (` + sessionCols + `, rt_hash, rt_session_id, rt_key_id, rt_created_at, rt_expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{s.w, &s.replaceToken, `UPDATE sessions SET token_sealed = ?, token_id = ?, token_expires_at = ?, expires_at = ? WHERE id = ? AND revoked_at = 0 AND token_id = ?`},
		{s.w, &s.insertRefreshSt, `INSERT INTO refresh_tokens (hash, session_id, key_id, created_at, expires_at, spent_at, child_sealed) VALUES (?, ?, ?, ?, ?, ?, ?)`},
		{s.w, &s.spendRefresh, `UPDATE refresh_tokens SET spent_at = ?, child_sealed = ? WHERE hash = ? AND spent_at = 0`},
	} {
		if *p.st, err = p.db.PrepareContext(ctx, p.sql); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
	if err := s.startRelay(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.ckpt = tick.Start(checkpointEvery, func() { checkpoint(s.r, s.w) })
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.ckpt.Stop()
	s.stopRelay()
	for _, st := range s.stmts() {
		if st != nil {
			st.Close()
		}
	}
	var err error
	if s.r != nil {
		err = s.r.Close()
	}
	return errors.Join(err, s.w.Close())
}

// migrate applies every embedded migration not yet recorded, each in its
// own transaction (internal/migrate).
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if err := migrate.Run(ctx, migrations, s.apply); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// apply runs one migration: begin → skip if recorded → exec → record → commit.
func (s *Store) apply(ctx context.Context, m migrate.Migration) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, m.Version, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// write runs fn in a write transaction: begin → fn → commit.
//
// A write, once begun, runs to its end even if ctx is canceled: it is short,
// and a context without a Done channel spares the driver a goroutine per
// statement (modernc.org/sqlite watches a cancelable context with one).
// Waiting for the writer connection still honours ctx.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", mapErr(err))
	}
	return nil
}

// mapErr turns unique violations into authkit.ErrConflict by SQLite's
// extended result code.
func mapErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%v: %w", se.Error(), authkit.ErrConflict)
		}
	}
	return err
}

func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func joinScopes(s []string) string { return strings.Join(s, " ") }

func splitScopes(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}

// encodePolicy is the stored form of p: "" for the zero Policy, else JSON.
func encodePolicy(p *authkit.Policy) string {
	if p.IsZero() {
		return ""
	}
	b, _ := json.Marshal(p) // cannot fail: plain data
	return string(b)
}

func decodePolicy(s string, p *authkit.Policy) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), p)
}

func notFound(what string) error { return fmt.Errorf("sqlite: %s: %w", what, authkit.ErrNotFound) }

// ---- keys

const keyCols = `k.id, k.owner, k.handle, k.alias, k.env, k.scopes, k.hint, k.recoverable, k.created_at, k.expires_at, k.last_used_at, k.revoked_at, k.disabled, k.policy`

type scanner interface{ Scan(...any) error }

func scanKey(sc scanner, extra ...any) (*authkit.Key, error) {
	var k authkit.Key
	var env, scopes, policy string
	var created, expires, used, revoked int64
	dest := append([]any{&k.ID, &k.Owner, &k.Handle, &k.Alias, &env, &scopes, &k.Hint, &k.Recoverable, &created, &expires, &used, &revoked, &k.Disabled, &policy}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	if err := decodePolicy(policy, &k.Policy); err != nil {
		return nil, fmt.Errorf("sqlite: key %s: %w", k.ID, err)
	}
	k.Env, k.Scopes = authkit.Env(env), splitScopes(scopes)
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromMicro(created), fromMicro(expires), fromMicro(used), fromMicro(revoked)
	return &k, nil
}

// CreateKey implements authkit.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k *authkit.Key, sec *authkit.KeySecret) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO keys (id, owner, handle, alias, env, scopes, hint, recoverable, created_at, expires_at, last_used_at, revoked_at, disabled, policy)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Owner, k.Handle, k.Alias, string(k.Env), joinScopes(k.Scopes), k.Hint, k.Recoverable,
			micro(k.CreatedAt), micro(k.ExpiresAt), micro(k.LastUsedAt), micro(k.RevokedAt), k.Disabled, encodePolicy(&k.Policy))
		if err != nil {
			return fmt.Errorf("sqlite: create key: %w", mapErr(err))
		}
		return insertSecret(ctx, tx, k.ID, sec)
	})
}

func insertSecret(ctx context.Context, tx *sql.Tx, keyID string, sec *authkit.KeySecret) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO key_secrets (hash, key_id, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		sec.Hash, keyID, sec.Sealed, micro(sec.CreatedAt), micro(sec.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlite: key secret: %w", mapErr(err))
	}
	return nil
}

// KeyBySecret implements authkit.KeyStore.
func (s *Store) KeyBySecret(ctx context.Context, hash []byte) (*authkit.Key, *authkit.KeySecret, error) {
	var sec authkit.KeySecret
	var created, expires int64
	k, err := scanKey(s.keyBySecret.QueryRowContext(context.WithoutCancel(ctx), hash), &sec.Hash, &sec.Sealed, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, notFound("key secret")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: key by secret: %w", err)
	}
	sec.KeyID, sec.CreatedAt, sec.ExpiresAt = k.ID, fromMicro(created), fromMicro(expires)
	return k, &sec, nil
}

// KeyByID implements authkit.KeyStore.
func (s *Store) KeyByID(ctx context.Context, id string) (*authkit.Key, error) {
	k, err := scanKey(s.keyByID.QueryRowContext(context.WithoutCancel(ctx), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("key")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: key: %w", err)
	}
	return k, nil
}

// Key implements authkit.KeyStore.
func (s *Store) Key(ctx context.Context, owner, id string) (*authkit.Key, error) {
	return s.oneKey(ctx, `k.owner = ? AND k.id = ?`, owner, id)
}

// KeyByHandle implements authkit.KeyStore.
func (s *Store) KeyByHandle(ctx context.Context, owner, handle string) (*authkit.Key, error) {
	return s.oneKey(ctx, `k.owner = ? AND k.handle = ?`, owner, handle)
}

func (s *Store) oneKey(ctx context.Context, where string, args ...any) (*authkit.Key, error) {
	k, err := scanKey(s.r.QueryRowContext(ctx, `SELECT `+keyCols+` FROM keys k WHERE `+where+` AND k.revoked_at = 0`, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("key")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: key: %w", err)
	}
	return k, nil
}

// ListKeys implements authkit.KeyStore.
func (s *Store) ListKeys(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Key, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+keyCols+` FROM keys k WHERE k.owner = ? AND k.revoked_at = 0 AND k.id > ? ORDER BY k.id LIMIT ?`, owner, p.After, p.Size())
	if err != nil {
		return nil, fmt.Errorf("sqlite: list keys: %w", err)
	}
	defer rows.Close()
	var out []*authkit.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// CurrentKeySecret implements authkit.KeyStore.
func (s *Store) CurrentKeySecret(ctx context.Context, owner, id string) (*authkit.KeySecret, error) {
	var sec authkit.KeySecret
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT s.hash, s.sealed, s.created_at FROM key_secrets s JOIN keys k ON k.id = s.key_id
		WHERE k.owner = ? AND k.id = ? AND k.revoked_at = 0 AND s.expires_at = 0`, owner, id).Scan(&sec.Hash, &sec.Sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("current key secret")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: current key secret: %w", err)
	}
	sec.KeyID, sec.CreatedAt = id, fromMicro(created)
	return &sec, nil
}

// RotateKey implements authkit.KeyStore.
func (s *Store) RotateKey(ctx context.Context, owner, id string, next *authkit.KeySecret, hint string, graceUntil time.Time) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := liveKey(ctx, tx, owner, id); err != nil {
			return err
		}
		g := micro(graceUntil)
		if _, err := tx.ExecContext(ctx, `UPDATE key_secrets SET expires_at = ? WHERE key_id = ? AND (expires_at = 0 OR expires_at > ?)`, g, id, g); err != nil {
			return fmt.Errorf("sqlite: rotate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE keys SET hint = ? WHERE id = ?`, hint, id); err != nil {
			return fmt.Errorf("sqlite: rotate: %w", err)
		}
		n := *next
		n.ExpiresAt = time.Time{}
		if err := insertSecret(ctx, tx, id, &n); err != nil {
			return err
		}
		return s.logRevocations(ctx, tx, authkit.ChangedKey, id)
	})
	if err == nil {
		s.Publish(authkit.Revocation{Kind: authkit.ChangedKey, ID: id})
	}
	return err
}

func liveKey(ctx context.Context, tx *sql.Tx, owner, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM keys WHERE owner = ? AND id = ? AND revoked_at = 0`, owner, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("key")
	}
	return err
}

// RevokeKey implements authkit.KeyStore.
func (s *Store) RevokeKey(ctx context.Context, owner, id string, at time.Time) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE keys SET revoked_at = ? WHERE owner = ? AND id = ? AND revoked_at = 0`, micro(at), owner, id)
		if err != nil {
			return fmt.Errorf("sqlite: revoke key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("key")
		}
		return s.logRevocations(ctx, tx, authkit.RevokedKey, id)
	})
	if err == nil {
		s.Publish(authkit.Revocation{Kind: authkit.RevokedKey, ID: id})
	}
	return err
}

// UpdateKey implements authkit.KeyStore.
func (s *Store) UpdateKey(ctx context.Context, k *authkit.Key) error {
	id := k.ID
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE keys SET alias = ?, disabled = ?, policy = ? WHERE owner = ? AND id = ? AND revoked_at = 0`,
			k.Alias, k.Disabled, encodePolicy(&k.Policy), k.Owner, id)
		if err != nil {
			return fmt.Errorf("sqlite: update key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("key")
		}
		return s.logRevocations(ctx, tx, authkit.ChangedKey, id)
	})
	if err == nil {
		s.Publish(authkit.Revocation{Kind: authkit.ChangedKey, ID: id})
	}
	return err
}

// touchBatch is how many keys one TouchKeys statement updates.
const touchBatch = 200

// TouchKeys implements authkit.KeyStore: one UPDATE … FROM (VALUES …)
// statement per 200 keys, in one write transaction.
func (s *Store) TouchKeys(ctx context.Context, uses map[string]time.Time) error {
	if len(uses) == 0 {
		return nil
	}
	ids := make([]string, 0, len(uses))
	for id := range uses {
		ids = append(ids, id)
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for len(ids) > 0 {
			n := min(len(ids), touchBatch)
			var q strings.Builder
			q.WriteString(`WITH u(id, at) AS (VALUES `)
			args := make([]any, 0, 2*n)
			for i, id := range ids[:n] {
				if i > 0 {
					q.WriteString(", ")
				}
				q.WriteString("(?, ?)")
				args = append(args, id, micro(uses[id]))
			}
			q.WriteString(`) UPDATE keys SET last_used_at = u.at FROM u WHERE keys.id = u.id AND keys.last_used_at < u.at`)
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return fmt.Errorf("sqlite: touch keys: %w", err)
			}
			ids = ids[n:]
		}
		return nil
	})
}

// ---- sessions

const sessionCols = `id, kind, key_id, owner, name, scopes, created_at, expires_at, revoked_at, token_sealed, token_id, token_expires_at`

func scanSession(sc scanner) (*authkit.Session, error) {
	var x authkit.Session
	var kind, scopes string
	var created, expires, revoked, tokExp int64
	if err := sc.Scan(&x.ID, &kind, &x.KeyID, &x.Owner, &x.Name, &scopes, &created, &expires, &revoked, &x.TokenSealed, &x.TokenID, &tokExp); err != nil {
		return nil, err
	}
	x.Kind, x.Scopes = authkit.SessionKind(kind), splitScopes(scopes)
	x.CreatedAt, x.ExpiresAt, x.RevokedAt, x.TokenExpiresAt = fromMicro(created), fromMicro(expires), fromMicro(revoked), fromMicro(tokExp)
	return &x, nil
}

// CreateSession implements authkit.SessionStore: one statement, atomic as
// every statement is (the unique index on login sessions decides a race),
// committed alone or with the sessions that arrived meanwhile (group.go).
// With its first refresh token it is an insert into the view
// session_grants, whose trigger writes both rows.
func (s *Store) CreateSession(ctx context.Context, x *authkit.Session, first *authkit.RefreshToken) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	args := []any{x.ID, string(x.Kind), x.KeyID, x.Owner, x.Name, joinScopes(x.Scopes), micro(x.CreatedAt), micro(x.ExpiresAt), micro(x.RevokedAt),
		x.TokenSealed, x.TokenID, micro(x.TokenExpiresAt)}
	st := s.insertSession
	if first != nil {
		st = s.insertGrant
		args = append(args, first.Hash, first.SessionID, first.KeyID, micro(first.CreatedAt), micro(first.ExpiresAt))
	}
	return s.createSession(&pendingSession{st: st, args: args, done: make(chan struct{})})
}

// Session implements authkit.SessionStore.
func (s *Store) Session(ctx context.Context, id string) (*authkit.Session, error) {
	x, err := scanSession(s.sessionByID.QueryRowContext(context.WithoutCancel(ctx), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("session")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: session: %w", err)
	}
	return x, nil
}

// LoginSession implements authkit.SessionStore.
func (s *Store) LoginSession(ctx context.Context, owner, keyID, name string) (*authkit.Session, error) {
	x, err := scanSession(s.loginSession.QueryRowContext(context.WithoutCancel(ctx), owner, keyID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("login session")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: login session: %w", err)
	}
	return x, nil
}

// ReplaceSessionToken implements authkit.SessionStore.
func (s *Store) ReplaceSessionToken(ctx context.Context, id, prevTokenID string, sealed []byte, tokenID string, tokenExpiresAt, expiresAt time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.replaceToken).ExecContext(ctx, sealed, tokenID, micro(tokenExpiresAt), micro(expiresAt), id, prevTokenID)
		if err != nil {
			return fmt.Errorf("sqlite: replace session token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ? AND revoked_at = 0`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return notFound("session")
		}
		return fmt.Errorf("sqlite: session token replaced meanwhile: %w", authkit.ErrConflict)
	})
}

// ListSessions implements authkit.SessionStore.
func (s *Store) ListSessions(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Session, error) {
	// The IDs first, from the index of live sessions alone (it orders them
	// by key, then ID), then the rows of the page.
	rows, err := s.r.QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE owner = ? AND revoked_at = 0 AND id > ? ORDER BY id LIMIT ?) ORDER BY id`, owner, p.After, p.Size())
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sessions: %w", err)
	}
	defer rows.Close()
	var out []*authkit.Session
	for rows.Next() {
		x, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list sessions: %w", err)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// RevokeSession implements authkit.SessionStore.
func (s *Store) RevokeSession(ctx context.Context, owner, id string, at time.Time) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE owner = ? AND id = ?`, owner, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("session")
		}
		if err != nil {
			return fmt.Errorf("sqlite: revoke session: %w", err)
		}
		if _, err = tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, micro(at), id); err != nil {
			return err
		}
		return s.logRevocations(ctx, tx, authkit.RevokedSession, id)
	})
	if err == nil {
		s.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
	}
	return err
}

// ofKey selects the live sessions of the key ?1 through the index of live
// sessions, which is by owner first: a key's sessions are its owner's.
const ofKey = `owner = (SELECT owner FROM keys WHERE id = ?1) AND key_id = ?1 AND revoked_at = 0`

// oldestKept finds the live session of a key past which the older ones
// are over its cap (EndOldestSessions).
const oldestKept = `SELECT id FROM sessions WHERE ` + ofKey + ` ORDER BY id DESC LIMIT 1 OFFSET ?2`

// liveUpTo counts a key's live sessions, up to a limit (EndOldestSessions).
const liveUpTo = `SELECT count(*) FROM (SELECT 1 FROM sessions WHERE ` + ofKey + ` LIMIT ?2)`

// EndOldestSessions implements authkit.SessionStore. A key under its cap,
// the usual case, costs one read on the reader pool and no write.
func (s *Store) EndOldestSessions(ctx context.Context, keyID string, max, keep int, at time.Time) (int, error) {
	var live int
	if err := s.liveUpTo.QueryRowContext(context.WithoutCancel(ctx), keyID, max+1).Scan(&live); err != nil {
		return 0, fmt.Errorf("sqlite: end oldest sessions: %w", err)
	}
	if live <= max {
		return live, nil
	}
	var ended []string
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		ended, err = ids(tx.QueryContext(ctx, `UPDATE sessions SET revoked_at = ?3 WHERE `+ofKey+`
			AND id < (`+oldestKept+`) RETURNING id`, keyID, keep-1, micro(at)))
		if err != nil {
			return err
		}
		return s.logRevocations(ctx, tx, authkit.RevokedSession, ended...)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: end oldest sessions: %w", err)
	}
	s.publishSessions(ended)
	return keep, nil
}

// EndKeySessions implements authkit.SessionStore.
func (s *Store) EndKeySessions(ctx context.Context, keyID string, upTo, at time.Time) (int, error) {
	revoke := !at.After(upTo)
	var ended []string
	n := 0
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if !revoke {
			res, err := tx.ExecContext(ctx, `UPDATE sessions SET expires_at = ?3 WHERE `+ofKey+` AND created_at <= ?2 AND expires_at > ?3`,
				keyID, micro(upTo), micro(at))
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			n = int(m)
			return err
		}
		var err error
		ended, err = ids(tx.QueryContext(ctx, `UPDATE sessions SET revoked_at = ?3, expires_at = MIN(expires_at, ?3)
			WHERE `+ofKey+` AND created_at <= ?2 RETURNING id`, keyID, micro(upTo), micro(at)))
		n = len(ended)
		if err != nil {
			return err
		}
		return s.logRevocations(ctx, tx, authkit.RevokedSession, ended...)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: end key sessions: %w", err)
	}
	s.publishSessions(ended)
	return n, nil
}

// ids reads the one column of rows, the IDs of the sessions a statement
// revoked.
func ids(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// publishSessions publishes the revocation of each session of ids.
func (s *Store) publishSessions(ids []string) {
	for _, id := range ids {
		s.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
	}
}

// ---- refresh tokens

func (s *Store) insertRefresh(ctx context.Context, tx *sql.Tx, t *authkit.RefreshToken) error {
	_, err := tx.StmtContext(ctx, s.insertRefreshSt).ExecContext(ctx,
		t.Hash, t.SessionID, t.KeyID, micro(t.CreatedAt), micro(t.ExpiresAt), micro(t.SpentAt), t.ChildSealed)
	if err != nil {
		return fmt.Errorf("sqlite: refresh token: %w", mapErr(err))
	}
	return nil
}

// RefreshToken implements authkit.RefreshStore.
func (s *Store) RefreshToken(ctx context.Context, hash []byte) (*authkit.RefreshToken, error) {
	var t authkit.RefreshToken
	var created, expires, spent int64
	err := s.refreshByHash.QueryRowContext(context.WithoutCancel(ctx), hash).
		Scan(&t.Hash, &t.SessionID, &t.KeyID, &created, &expires, &spent, &t.ChildSealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("refresh token")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: refresh token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt, t.SpentAt = fromMicro(created), fromMicro(expires), fromMicro(spent)
	return &t, nil
}

// SpendRefreshToken implements authkit.RefreshStore.
func (s *Store) SpendRefreshToken(ctx context.Context, hash []byte, at time.Time, childSealed []byte, child *authkit.RefreshToken) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.spendRefresh).ExecContext(ctx, micro(at), childSealed, hash)
		if err != nil {
			return fmt.Errorf("sqlite: spend refresh token: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM refresh_tokens WHERE hash = ?`, hash).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return notFound("refresh token")
			}
			return fmt.Errorf("sqlite: refresh token spent already: %w", authkit.ErrConflict)
		}
		if child != nil {
			return s.insertRefresh(ctx, tx, child)
		}
		return nil
	})
}

// ---- signing keys

// CreateSigningKey implements authkit.SigningKeyStore.
func (s *Store) CreateSigningKey(ctx context.Context, k *authkit.SigningKey) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, sealed, public, created_at, retired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Algorithm, k.Sealed, k.Public, micro(k.CreatedAt), micro(k.RetiredAt), micro(k.ExpiresAt))
		if err != nil {
			return fmt.Errorf("sqlite: create signing key: %w", mapErr(err))
		}
		return nil
	})
}

// SigningKeys implements authkit.SigningKeyStore.
func (s *Store) SigningKeys(ctx context.Context) ([]*authkit.SigningKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, algorithm, sealed, public, created_at, retired_at, expires_at FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", err)
	}
	defer rows.Close()
	var out []*authkit.SigningKey
	for rows.Next() {
		var k authkit.SigningKey
		var created, retired, expires int64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.Public, &created, &retired, &expires); err != nil {
			return nil, fmt.Errorf("sqlite: signing keys: %w", err)
		}
		k.CreatedAt, k.RetiredAt, k.ExpiresAt = fromMicro(created), fromMicro(retired), fromMicro(expires)
		out = append(out, &k)
	}
	return out, rows.Err()
}

// RetireSigningKey implements authkit.SigningKeyStore.
func (s *Store) RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = ?, expires_at = ? WHERE id = ?`, micro(retiredAt), micro(expiresAt), id)
		if err != nil {
			return fmt.Errorf("sqlite: retire signing key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("signing key")
		}
		return nil
	})
}

// RevokeSigningKey implements authkit.SigningKeyStore.
func (s *Store) RevokeSigningKey(ctx context.Context, id string, at time.Time) error {
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retired_at = CASE WHEN retired_at = 0 THEN ? ELSE retired_at END, expires_at = ? WHERE id = ?`,
			micro(at), micro(at), id)
		if err != nil {
			return fmt.Errorf("sqlite: revoke signing key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("signing key")
		}
		return s.logRevocations(ctx, tx, authkit.RevokedSigningKey, id)
	})
	if err == nil {
		s.Publish(authkit.Revocation{Kind: authkit.RevokedSigningKey, ID: id})
	}
	return err
}

// ---- cleanup

// cleanupBatch bounds each delete so that the write lock is held briefly.
const cleanupBatch = 500

// Cleanup implements authkit.Store, deleting in batches of 500 rows. Refresh
// tokens are found by a walk of their primary key in pages of 1,000 read
// without the write lock (with their session: a token dies with it), and
// sessions by a walk of their table by rowid, so that no index is kept for
// cleanup alone.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int, error) {
	n := micro(now)
	total := 0
	if err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET child_sealed = NULL WHERE child_sealed IS NOT NULL AND spent_at <> 0 AND spent_at <= ?`,
			micro(now.Add(-authkit.MaxRefreshGrace)))
		return err
	}); err != nil {
		return 0, fmt.Errorf("sqlite: cleanup: erase sealed pairs: %w", err)
	}
	deleted, err := s.cleanupRefresh(ctx, n)
	total += deleted
	if err != nil {
		return total, err
	}
	deleted, err = s.cleanupSessions(ctx, n)
	total += deleted
	if err != nil {
		return total, err
	}
	for _, q := range []string{
		`DELETE FROM key_secrets WHERE hash IN (SELECT hash FROM key_secrets WHERE expires_at <> 0 AND expires_at <= ? LIMIT ` + strconv.Itoa(cleanupBatch) + `)`,
		`DELETE FROM signing_keys WHERE id IN (SELECT id FROM signing_keys WHERE expires_at <> 0 AND expires_at <= ? LIMIT ` + strconv.Itoa(cleanupBatch) + `)`,
		`DELETE FROM revocation_log WHERE id IN (SELECT id FROM revocation_log WHERE at <= ? - ` + strconv.FormatInt(relayKeep.Microseconds(), 10) + ` LIMIT ` + strconv.Itoa(cleanupBatch) + `)`,
	} {
		for {
			var deleted int64
			err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, q, n)
				if err != nil {
					return err
				}
				deleted, _ = res.RowsAffected()
				return nil
			})
			if err != nil {
				return total, fmt.Errorf("sqlite: cleanup: %w", err)
			}
			total += int(deleted)
			if deleted < cleanupBatch {
				break
			}
		}
	}
	return total, nil
}

// cleanupRefresh deletes the refresh tokens past their ExpiresAt or their
// session's (or whose session is gone).
func (s *Store) cleanupRefresh(ctx context.Context, now int64) (int, error) {
	total := 0
	after := []byte{0} // below every 32-byte hash
	for {
		rows, err := s.r.QueryContext(ctx, `SELECT r.hash, r.expires_at, s.expires_at FROM refresh_tokens r LEFT JOIN sessions s ON s.id = r.session_id
			WHERE r.hash > ? ORDER BY r.hash LIMIT 1000`, after)
		if err != nil {
			return total, fmt.Errorf("sqlite: cleanup: %w", err)
		}
		var dead [][]byte
		seen := 0
		for rows.Next() {
			var h []byte
			var exp int64
			var sessExp sql.NullInt64
			if err := rows.Scan(&h, &exp, &sessExp); err != nil {
				rows.Close()
				return total, fmt.Errorf("sqlite: cleanup: %w", err)
			}
			seen++
			after = h
			if exp <= now || !sessExp.Valid || sessExp.Int64 <= now {
				dead = append(dead, h)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("sqlite: cleanup: %w", err)
		}
		n, err := deleteIn(ctx, s, `DELETE FROM refresh_tokens WHERE hash IN (%s)`, dead)
		total += n
		if err != nil {
			return total, err
		}
		if seen < 1000 {
			return total, nil
		}
	}
}

// cleanupSessions deletes the sessions past their ExpiresAt. No index
// keeps them by expiry, which every new session would pay for: the table
// is read by rowid, a range at a time, on the reader pool, and the expired
// rows are deleted by rowid, a batch at a time (checking their expiry
// again: a login may have renewed one meanwhile).
func (s *Store) cleanupSessions(ctx context.Context, now int64) (int, error) {
	var last sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT max(rowid) FROM sessions`).Scan(&last); err != nil {
		return 0, fmt.Errorf("sqlite: cleanup: %w", err)
	}
	const span = 10_000
	total := 0
	for lo := int64(0); lo < last.Int64; lo += span {
		rows, err := s.r.QueryContext(ctx, `SELECT rowid FROM sessions WHERE rowid > ? AND rowid <= ? AND expires_at <= ?`, lo, lo+span, now)
		if err != nil {
			return total, fmt.Errorf("sqlite: cleanup: %w", err)
		}
		var dead []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return total, fmt.Errorf("sqlite: cleanup: %w", err)
			}
			dead = append(dead, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("sqlite: cleanup: %w", err)
		}
		n, err := deleteIn(ctx, s, `DELETE FROM sessions WHERE rowid IN (%s) AND expires_at <= `+strconv.FormatInt(now, 10), dead)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// deleteIn runs q, whose %s is a list of parameters, for keys, a batch at
// a time, each in its own write, and returns how many rows it deleted.
func deleteIn[K any](ctx context.Context, s *Store, q string, keys []K) (int, error) {
	total := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), cleanupBatch)]
		keys = keys[len(batch):]
		args := make([]any, len(batch))
		for i, k := range batch {
			args[i] = k
		}
		stmt := fmt.Sprintf(q, "?"+strings.Repeat(", ?", len(batch)-1))
		err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, stmt, args...)
			if err == nil {
				n, _ := res.RowsAffected()
				total += int(n)
			}
			return err
		})
		if err != nil {
			return total, fmt.Errorf("sqlite: cleanup: %w", err)
		}
	}
	return total, nil
}
