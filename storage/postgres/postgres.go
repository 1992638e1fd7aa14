// Package postgres is an authkit.Store on PostgreSQL through pgx (pgxpool),
// for apps that run several replicas on one database. It passes
// storage/storagetest.
//
// Several replicas share keys, sessions, refresh tokens and signing keys.
// Writes that must have one winner are conditional updates or unique
// indexes, so two replicas racing on the same refresh token or the same new
// login session get one winner and one ErrConflict. Revocations are
// published to the replica that made them at once, and to every other
// replica through LISTEN/NOTIFY on the channel "authkit_revocations"; when
// the listening connection drops, or goes silent (it must hear its own
// heartbeat every second: Store.ListeningSince), the store reconnects and
// replays every revocation made meanwhile from the tables, so none is
// missed; while it is deaf, the key and token caches read the store.
//
// Migrations are embedded and applied at Open under a PostgreSQL advisory
// lock, so that replicas starting together do not race.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/migrate"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

const channel = "authkit_revocations"

// migrationLock is the advisory lock key held while migrating.
const migrationLock = 0x61757468 // "auth"

// Config configures Open.
type Config struct {
	// Schema is the schema authkit's tables live in; created if missing.
	// Default: the connection's search_path (usually "public"). Tests use
	// one schema per run.
	Schema string
	// MaxConns bounds the pool; default pgxpool's (4 or the CPU count).
	MaxConns int32
}

// Store is an authkit.Store on PostgreSQL. It is safe for concurrent use,
// and several Stores (replicas) may share one database.
type Store struct {
	authkit.Broadcaster

	pool   *pgxpool.Pool
	schema string
	origin string // this store's ID in its notifications, so that it ignores its own
	cancel context.CancelFunc
	done   chan struct{}

	// listeningSince is when the listener last connected (and replayed),
	// Unix ns, while it is connected and heard its own heartbeat lately;
	// 0 otherwise.
	listeningSince atomic.Int64
}

var _ authkit.Store = (*Store)(nil)

// Open connects to the database at dsn (a postgres:// URL or key=value
// string), migrates it and starts listening for other replicas'
// revocations.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if cfg.Schema != "" {
		if err := createSchema(ctx, pc.ConnConfig, cfg.Schema); err != nil {
			return nil, err
		}
		pc.ConnConfig.RuntimeParams["search_path"] = cfg.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.Schema == "" { // the search_path's: named, so that notifications and the listener say which
		if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&cfg.Schema); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: current schema: %w", err)
		}
	}
	s := &Store{pool: pool, schema: cfg.Schema, origin: uuid.NewString(), done: make(chan struct{})}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	ready := make(chan struct{})
	lc := pc.ConnConfig.Copy()
	lc.RuntimeParams["application_name"] = listenerName(cfg.Schema)
	go s.listen(lctx, lc, ready)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	return s, nil
}

func createSchema(ctx context.Context, cc *pgx.ConnConfig, schema string) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrationLock)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: create schema: %w", err)
	}
	return nil
}

// Close stops listening and closes the pool.
func (s *Store) Close() error {
	s.cancel()
	<-s.done
	s.pool.Close()
	return nil
}

// migrate applies the embedded migrations not yet recorded
// (internal/migrate), each in its own transaction holding a
// transaction-scoped advisory lock, so that replicas starting together do
// not race.
func (s *Store) migrate(ctx context.Context) error {
	if err := migrate.Run(ctx, migrations, s.apply); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// apply runs one migration: begin → lock → skip if recorded → exec →
// record → commit.
func (s *Store) apply(ctx context.Context, m migrate.Migration) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil || n > 0 {
			return err
		}
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version)
		return err
	})
}

// ---- revocations across replicas

func (s *Store) payload(r authkit.Revocation) string {
	return s.origin + "|" + s.schema + "|" + string(r.Kind) + "|" + r.ID
}

// notify queues a NOTIFY in tx, delivered to every listener at commit.
func (s *Store) notify(ctx context.Context, tx pgx.Tx, r authkit.Revocation) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, s.payload(r))
	return err
}

// listenerName is the application_name of the connections that listen for
// revocations on schema, as pg_stat_activity shows them.
func listenerName(schema string) string {
	n := "authkit-listen-" + schema
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

// listeningNow reports whether the store is connected to receive other
// replicas' revocations.
func (s *Store) listeningNow() bool { return s.listeningSince.Load() != 0 }

// ListeningSince implements authkit.NotifierHealth: when the listener
// last connected (and replayed what it had missed); zero while it is not
// listening. The replay covers revocations, rotations and disabled keys,
// not every change of a key's policy: what a cache read before it, it
// reads again.
//
// The listener is listening while it is connected and has heard its own
// heartbeat (a NOTIFY sent every HeartbeatEvery through another
// connection) within DeadAfter. A listener silenced without its
// connection dropping (a frozen server process, a half-open TCP
// connection) is so found out within DeadAfter, and reconnected;
// meanwhile the caches that trust this Notifier read the store.
func (s *Store) ListeningSince() time.Time {
	ns := s.listeningSince.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// The listener's heartbeat.
const (
	HeartbeatEvery = 250 * time.Millisecond
	DeadAfter      = time.Second
)

// heartbeat sends a ping on the channel every HeartbeatEvery through the
// pool, and, when conn has heard none for DeadAfter, marks the store deaf
// and closes conn under the listener (which then reconnects). It returns
// when stop is closed.
func (s *Store) heartbeat(ctx context.Context, conn *pgx.Conn, heard *atomic.Int64, stop chan struct{}) {
	t := time.NewTicker(HeartbeatEvery)
	defer t.Stop()
	ping := s.origin + "|" + s.schema + "|ping|"
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, HeartbeatEvery)
		s.pool.Exec(pctx, `SELECT pg_notify($1, $2)`, channel, ping)
		cancel()
		if time.Since(time.Unix(0, heard.Load())) > DeadAfter {
			s.setListening(false)
			conn.PgConn().Conn().Close() // unblocks WaitForNotification
			return
		}
	}
}

// listen relays other replicas' revocations to this store's subscribers,
// reconnecting with backoff; after a reconnection it replays from the
// tables every revocation made since the connection dropped.
func (s *Store) listen(ctx context.Context, cc *pgx.ConnConfig, ready chan struct{}) {
	defer close(s.done)
	var since time.Time // when the last connection dropped; zero before the first
	backoff := 100 * time.Millisecond
	// retry closes conn (if any) and waits backoff, doubled each time up
	// to 5 s; false once ctx is done.
	retry := func(conn *pgx.Conn) bool {
		if conn != nil {
			conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
		return true
	}
	once := sync.Once{}
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cc)
		if err == nil {
			_, err = conn.Exec(ctx, `LISTEN `+channel)
		}
		if err == nil && !since.IsZero() {
			// Not listening until what was missed is replayed: the
			// caches go on reading the store meanwhile.
			err = s.replay(ctx, conn, since.Add(-time.Second))
		}
		if err != nil {
			if !retry(conn) {
				return
			}
			continue
		}
		backoff = 100 * time.Millisecond
		s.setListening(true)
		once.Do(func() { close(ready) })
		var heard atomic.Int64
		heard.Store(time.Now().UnixNano())
		stop, beaten := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(beaten)
			s.heartbeat(ctx, conn, &heard, stop)
		}()
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			parts := strings.SplitN(n.Payload, "|", 4)
			switch {
			case len(parts) != 4 || parts[1] != s.schema:
			case parts[2] == "ping":
				if parts[0] == s.origin {
					heard.Store(time.Now().UnixNano())
				}
			case parts[0] != s.origin:
				s.Publish(authkit.Revocation{Kind: authkit.RevocationKind(parts[2]), ID: parts[3]})
			}
		}
		close(stop)
		<-beaten // so that it cannot mark the next connection deaf
		s.setListening(false)
		since = time.Unix(0, heard.Load()) // deaf since the last heartbeat heard, not since the drop
		conn.Close(context.Background())
	}
}

func (s *Store) setListening(v bool) {
	if v {
		s.listeningSince.Store(time.Now().UnixNano())
	} else {
		s.listeningSince.Store(0)
	}
}

// replay publishes every key and session revoked, every key rotated, and
// every signing key revoked at or after since, and every key disabled now
// (a disable leaves no time behind). It publishes nothing unless every
// query answered.
func (s *Store) replay(ctx context.Context, conn *pgx.Conn, since time.Time) error {
	var missed []authkit.Revocation
	for _, q := range []struct {
		kind authkit.RevocationKind
		sql  string
	}{
		{authkit.RevokedKey, `SELECT id FROM keys WHERE revoked_at >= $1`},
		{authkit.RevokedSession, `SELECT id FROM sessions WHERE revoked_at >= $1`},
		{authkit.ChangedKey, `SELECT DISTINCT key_id FROM key_secrets WHERE created_at >= $1`},
		{authkit.ChangedKey, `SELECT id FROM keys WHERE disabled AND revoked_at IS NULL AND $1::timestamptz IS NOT NULL`},
		{authkit.RevokedSigningKey, `SELECT id FROM signing_keys WHERE expires_at >= $1 AND expires_at <= now()`},
	} {
		rows, err := conn.Query(ctx, q.sql, since)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range ids {
			missed = append(missed, authkit.Revocation{Kind: q.kind, ID: id})
		}
	}
	for _, r := range missed {
		s.Publish(r)
	}
	return nil
}

// ---- helpers

func mapErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("postgres: %s: %w", pe.ConstraintName, authkit.ErrConflict)
	}
	return err
}

func notFound(what string) error { return fmt.Errorf("postgres: %s: %w", what, authkit.ErrNotFound) }

// tz turns a zero time into NULL.
func tz(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func fromTZ(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func scopes(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// write runs fn in a transaction: begin → fn → commit.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}
