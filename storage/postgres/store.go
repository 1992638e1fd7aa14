package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authkit/authkit"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ---- keys

// encodePolicy is the stored form of p: "" for the zero Policy, else JSON.
func encodePolicy(p *authkit.Policy) string {
	if p.IsZero() {
		return ""
	}
	b, _ := json.Marshal(p) // cannot fail: plain data
	return string(b)
}

const keyCols = `k.id, k.owner, k.handle, k.alias, k.env, k.scopes, k.hint, k.recoverable, k.created_at, k.expires_at, k.last_used_at, k.revoked_at, k.disabled, k.policy`

func scanKey(row pgx.Row, extra ...any) (*authkit.Key, error) {
	var k authkit.Key
	var env, policy string
	var created time.Time
	var expires, used, revoked *time.Time
	dest := append([]any{&k.ID, &k.Owner, &k.Handle, &k.Alias, &env, &k.Scopes, &k.Hint, &k.Recoverable, &created, &expires, &used, &revoked, &k.Disabled, &policy}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	if policy != "" {
		if err := json.Unmarshal([]byte(policy), &k.Policy); err != nil {
			return nil, fmt.Errorf("postgres: key %s: %w", k.ID, err)
		}
	}
	k.Env, k.Scopes = authkit.Env(env), scopes(k.Scopes)
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt = created.UTC(), fromTZ(expires), fromTZ(used), fromTZ(revoked)
	return &k, nil
}

// CreateKey implements authkit.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k *authkit.Key, sec *authkit.KeySecret) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO keys (id, owner, handle, alias, env, scopes, hint, recoverable, created_at, expires_at, last_used_at, revoked_at, disabled, policy)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			k.ID, k.Owner, k.Handle, k.Alias, string(k.Env), scopes(k.Scopes), k.Hint, k.Recoverable,
			k.CreatedAt.UTC(), tz(k.ExpiresAt), tz(k.LastUsedAt), tz(k.RevokedAt), k.Disabled, encodePolicy(&k.Policy))
		if err != nil {
			return fmt.Errorf("postgres: create key: %w", mapErr(err))
		}
		return insertSecret(ctx, tx, k.ID, sec)
	})
}

func insertSecret(ctx context.Context, tx pgx.Tx, keyID string, sec *authkit.KeySecret) error {
	_, err := tx.Exec(ctx, `INSERT INTO key_secrets (hash, key_id, sealed, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		sec.Hash, keyID, sec.Sealed, sec.CreatedAt.UTC(), tz(sec.ExpiresAt))
	if err != nil {
		return fmt.Errorf("postgres: key secret: %w", mapErr(err))
	}
	return nil
}

// KeyBySecret implements authkit.KeyStore.
func (s *Store) KeyBySecret(ctx context.Context, hash []byte) (*authkit.Key, *authkit.KeySecret, error) {
	var sec authkit.KeySecret
	var created time.Time
	var expires *time.Time
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyCols+`, s.hash, s.sealed, s.created_at, s.expires_at FROM key_secrets s JOIN keys k ON k.id = s.key_id WHERE s.hash = $1`, hash),
		&sec.Hash, &sec.Sealed, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, notFound("key secret")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("postgres: key by secret: %w", err)
	}
	sec.KeyID, sec.CreatedAt, sec.ExpiresAt = k.ID, created.UTC(), fromTZ(expires)
	return k, &sec, nil
}

// KeyByID implements authkit.KeyStore.
func (s *Store) KeyByID(ctx context.Context, id string) (*authkit.Key, error) {
	return s.oneKey(ctx, `k.id = $1`, id)
}

// Key implements authkit.KeyStore.
func (s *Store) Key(ctx context.Context, owner, id string) (*authkit.Key, error) {
	return s.oneKey(ctx, `k.owner = $1 AND k.id = $2 AND k.revoked_at IS NULL`, owner, id)
}

// KeyByHandle implements authkit.KeyStore.
func (s *Store) KeyByHandle(ctx context.Context, owner, handle string) (*authkit.Key, error) {
	return s.oneKey(ctx, `k.owner = $1 AND k.handle = $2 AND k.revoked_at IS NULL`, owner, handle)
}

func (s *Store) oneKey(ctx context.Context, where string, args ...any) (*authkit.Key, error) {
	k, err := scanKey(s.pool.QueryRow(ctx, `SELECT `+keyCols+` FROM keys k WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("key")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: key: %w", err)
	}
	return k, nil
}

// ListKeys implements authkit.KeyStore.
func (s *Store) ListKeys(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+keyCols+` FROM keys k WHERE k.owner = $1 AND k.revoked_at IS NULL AND k.id > $2 ORDER BY k.id LIMIT $3`, owner, p.After, p.Size())
	if err != nil {
		return nil, fmt.Errorf("postgres: list keys: %w", err)
	}
	defer rows.Close()
	var out []*authkit.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// CurrentKeySecret implements authkit.KeyStore.
func (s *Store) CurrentKeySecret(ctx context.Context, owner, id string) (*authkit.KeySecret, error) {
	var sec authkit.KeySecret
	var created time.Time
	err := s.pool.QueryRow(ctx, `SELECT s.hash, s.sealed, s.created_at FROM key_secrets s JOIN keys k ON k.id = s.key_id
		WHERE k.owner = $1 AND k.id = $2 AND k.revoked_at IS NULL AND s.expires_at IS NULL`, owner, id).Scan(&sec.Hash, &sec.Sealed, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("current key secret")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: current key secret: %w", err)
	}
	sec.KeyID, sec.CreatedAt = id, created.UTC()
	return &sec, nil
}

// RotateKey implements authkit.KeyStore.
func (s *Store) RotateKey(ctx context.Context, owner, id string, next *authkit.KeySecret, hint string, graceUntil time.Time) error {
	changed := authkit.Revocation{Kind: authkit.ChangedKey, ID: id}
	err := s.write(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM keys WHERE owner = $1 AND id = $2 AND revoked_at IS NULL FOR UPDATE`, owner, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("key")
		}
		if err != nil {
			return err
		}
		g := graceUntil.UTC()
		if _, err := tx.Exec(ctx, `UPDATE key_secrets SET expires_at = $1 WHERE key_id = $2 AND (expires_at IS NULL OR expires_at > $1)`, g, id); err != nil {
			return fmt.Errorf("postgres: rotate: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE keys SET hint = $1 WHERE id = $2`, hint, id); err != nil {
			return fmt.Errorf("postgres: rotate: %w", err)
		}
		n := *next
		n.ExpiresAt = time.Time{}
		if err := insertSecret(ctx, tx, id, &n); err != nil {
			return err
		}
		return s.notify(ctx, tx, changed)
	})
	if err == nil {
		s.Publish(changed)
	}
	return err
}

// RevokeKey implements authkit.KeyStore.
func (s *Store) RevokeKey(ctx context.Context, owner, id string, at time.Time) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE keys SET revoked_at = $1 WHERE owner = $2 AND id = $3 AND revoked_at IS NULL`, at.UTC(), owner, id)
		if err != nil {
			return fmt.Errorf("postgres: revoke key: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("key")
		}
		return s.notify(ctx, tx, authkit.Revocation{Kind: authkit.RevokedKey, ID: id})
	})
	if err == nil {
		s.Publish(authkit.Revocation{Kind: authkit.RevokedKey, ID: id})
	}
	return err
}

// UpdateKey implements authkit.KeyStore.
func (s *Store) UpdateKey(ctx context.Context, k *authkit.Key) error {
	changed := authkit.Revocation{Kind: authkit.ChangedKey, ID: k.ID}
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE keys SET alias = $1, disabled = $2, policy = $3 WHERE owner = $4 AND id = $5 AND revoked_at IS NULL`,
			k.Alias, k.Disabled, encodePolicy(&k.Policy), k.Owner, k.ID)
		if err != nil {
			return fmt.Errorf("postgres: update key: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("key")
		}
		return s.notify(ctx, tx, changed)
	})
	if err == nil {
		s.Publish(changed)
	}
	return err
}

// TouchKeys implements authkit.KeyStore: one UPDATE … FROM unnest(…)
// statement for the whole batch.
func (s *Store) TouchKeys(ctx context.Context, uses map[string]time.Time) error {
	if len(uses) == 0 {
		return nil
	}
	ids := make([]string, 0, len(uses))
	ats := make([]time.Time, 0, len(uses))
	for id, at := range uses {
		ids, ats = append(ids, id), append(ats, at.UTC())
	}
	_, err := s.pool.Exec(ctx, `UPDATE keys k SET last_used_at = u.at FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
		WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`, ids, ats)
	if err != nil {
		return fmt.Errorf("postgres: touch keys: %w", err)
	}
	return nil
}

// ---- sessions

const sessionCols = `id, kind, key_id, owner, name, scopes, created_at, expires_at, revoked_at, token_sealed, token_id, token_expires_at`

func scanSession(row pgx.Row) (*authkit.Session, error) {
	var x authkit.Session
	var kind string
	var created, expires time.Time
	var revoked, tokExp *time.Time
	if err := row.Scan(&x.ID, &kind, &x.KeyID, &x.Owner, &x.Name, &x.Scopes, &created, &expires, &revoked, &x.TokenSealed, &x.TokenID, &tokExp); err != nil {
		return nil, err
	}
	x.Kind, x.Scopes = authkit.SessionKind(kind), scopes(x.Scopes)
	x.CreatedAt, x.ExpiresAt, x.RevokedAt, x.TokenExpiresAt = created.UTC(), expires.UTC(), fromTZ(revoked), fromTZ(tokExp)
	return &x, nil
}

// CreateSession implements authkit.SessionStore: one statement, or a
// transaction of two with the family's first refresh token.
func (s *Store) CreateSession(ctx context.Context, x *authkit.Session, first *authkit.RefreshToken) error {
	insert := func(db execer) error {
		_, err := db.Exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			x.ID, string(x.Kind), x.KeyID, x.Owner, x.Name, scopes(x.Scopes), x.CreatedAt.UTC(), x.ExpiresAt.UTC(), tz(x.RevokedAt),
			x.TokenSealed, x.TokenID, tz(x.TokenExpiresAt))
		if err != nil {
			return fmt.Errorf("postgres: create session: %w", mapErr(err))
		}
		return nil
	}
	if first == nil {
		return insert(s.pool)
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if err := insert(tx); err != nil {
			return err
		}
		return insertRefresh(ctx, tx, first)
	})
}

func (s *Store) oneSession(ctx context.Context, where string, args ...any) (*authkit.Session, error) {
	x, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE `+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("session")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: session: %w", err)
	}
	return x, nil
}

// Session implements authkit.SessionStore.
func (s *Store) Session(ctx context.Context, id string) (*authkit.Session, error) {
	return s.oneSession(ctx, `id = $1`, id)
}

// LoginSession implements authkit.SessionStore.
func (s *Store) LoginSession(ctx context.Context, owner, keyID, name string) (*authkit.Session, error) {
	return s.oneSession(ctx, `owner = $1 AND key_id = $2 AND name = $3 AND kind = 'login' AND revoked_at IS NULL`, owner, keyID, name)
}

// ReplaceSessionToken implements authkit.SessionStore.
func (s *Store) ReplaceSessionToken(ctx context.Context, id, prevTokenID string, sealed []byte, tokenID string, tokenExpiresAt, expiresAt time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET token_sealed = $1, token_id = $2, token_expires_at = $3, expires_at = $4
		WHERE id = $5 AND revoked_at IS NULL AND token_id = $6`, sealed, tokenID, tz(tokenExpiresAt), expiresAt.UTC(), id, prevTokenID)
	if err != nil {
		return fmt.Errorf("postgres: replace session token: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	if _, err := s.oneSession(ctx, `id = $1 AND revoked_at IS NULL`, id); err != nil {
		return err
	}
	return fmt.Errorf("postgres: session token replaced meanwhile: %w", authkit.ErrConflict)
}

// ListSessions implements authkit.SessionStore.
func (s *Store) ListSessions(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Session, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE owner = $1 AND revoked_at IS NULL AND id > $2 ORDER BY id LIMIT $3`, owner, p.After, p.Size())
	if err != nil {
		return nil, fmt.Errorf("postgres: list sessions: %w", err)
	}
	defer rows.Close()
	var out []*authkit.Session
	for rows.Next() {
		x, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list sessions: %w", err)
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// RevokeSession implements authkit.SessionStore.
func (s *Store) RevokeSession(ctx context.Context, owner, id string, at time.Time) error {
	err := s.write(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM sessions WHERE owner = $1 AND id = $2`, owner, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("session")
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, at.UTC(), id); err != nil {
			return err
		}
		return s.notify(ctx, tx, authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
	})
	if err == nil {
		s.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
	}
	return err
}

// EndOldestSessions implements authkit.SessionStore. A key under its cap,
// the usual case, costs one read and no write.
func (s *Store) EndOldestSessions(ctx context.Context, keyID string, max, keep int, at time.Time) (int, error) {
	const oldestKept = `SELECT id FROM sessions WHERE key_id = $1 AND revoked_at IS NULL ORDER BY id DESC LIMIT 1 OFFSET $2`
	var live int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM sessions WHERE key_id = $1 AND revoked_at IS NULL LIMIT $2) AS l`,
		keyID, max+1).Scan(&live)
	if err != nil {
		return 0, fmt.Errorf("postgres: end oldest sessions: %w", err)
	}
	if live <= max {
		return live, nil
	}
	var ended []string
	err = s.write(ctx, func(tx pgx.Tx) error {
		var err error
		ended, err = s.revokeReturning(ctx, tx, `UPDATE sessions SET revoked_at = $3 WHERE key_id = $1 AND revoked_at IS NULL
			AND id < (`+oldestKept+`) RETURNING id`, keyID, keep-1, at.UTC())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: end oldest sessions: %w", err)
	}
	s.publishSessions(ended)
	return keep, nil
}

// EndKeySessions implements authkit.SessionStore.
func (s *Store) EndKeySessions(ctx context.Context, keyID string, upTo, at time.Time) (int, error) {
	revoke := !at.After(upTo)
	var ended []string
	n := 0
	err := s.write(ctx, func(tx pgx.Tx) error {
		if !revoke {
			tag, err := tx.Exec(ctx, `UPDATE sessions SET expires_at = $3 WHERE key_id = $1 AND revoked_at IS NULL AND created_at <= $2 AND expires_at > $3`,
				keyID, upTo.UTC(), at.UTC())
			n = int(tag.RowsAffected())
			return err
		}
		var err error
		ended, err = s.revokeReturning(ctx, tx, `UPDATE sessions SET revoked_at = $3, expires_at = LEAST(expires_at, $3)
			WHERE key_id = $1 AND revoked_at IS NULL AND created_at <= $2 RETURNING id`, keyID, upTo.UTC(), at.UTC())
		n = len(ended)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: end key sessions: %w", err)
	}
	s.publishSessions(ended)
	return n, nil
}

// revokeReturning runs a statement that revokes sessions and returns
// their IDs, and notifies the other replicas of each in tx.
func (s *Store) revokeReturning(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := s.notify(ctx, tx, authkit.Revocation{Kind: authkit.RevokedSession, ID: id}); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// publishSessions publishes the revocation of each session of ids in this
// process.
func (s *Store) publishSessions(ids []string) {
	for _, id := range ids {
		s.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
	}
}

// ---- refresh tokens

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertRefresh(ctx context.Context, db execer, t *authkit.RefreshToken) error {
	_, err := db.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, key_id, created_at, expires_at, spent_at, child_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.Hash, t.SessionID, t.KeyID, t.CreatedAt.UTC(), t.ExpiresAt.UTC(), tz(t.SpentAt), t.ChildSealed)
	if err != nil {
		return fmt.Errorf("postgres: refresh token: %w", mapErr(err))
	}
	return nil
}

// RefreshToken implements authkit.RefreshStore.
func (s *Store) RefreshToken(ctx context.Context, hash []byte) (*authkit.RefreshToken, error) {
	var t authkit.RefreshToken
	var created, expires time.Time
	var spent *time.Time
	err := s.pool.QueryRow(ctx, `SELECT hash, session_id, key_id, created_at, expires_at, spent_at, child_sealed FROM refresh_tokens WHERE hash = $1`, hash).
		Scan(&t.Hash, &t.SessionID, &t.KeyID, &created, &expires, &spent, &t.ChildSealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("refresh token")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: refresh token: %w", err)
	}
	t.CreatedAt, t.ExpiresAt, t.SpentAt = created.UTC(), expires.UTC(), fromTZ(spent)
	return &t, nil
}

// SpendRefreshToken implements authkit.RefreshStore: a conditional update,
// so that of concurrent spenders on any replica exactly one wins.
func (s *Store) SpendRefreshToken(ctx context.Context, hash []byte, at time.Time, childSealed []byte, child *authkit.RefreshToken) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE refresh_tokens SET spent_at = $1, child_sealed = $2 WHERE hash = $3 AND spent_at IS NULL`, at.UTC(), childSealed, hash)
		if err != nil {
			return fmt.Errorf("postgres: spend refresh token: %w", err)
		}
		if tag.RowsAffected() == 0 {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM refresh_tokens WHERE hash = $1`, hash).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
				return notFound("refresh token")
			}
			return fmt.Errorf("postgres: refresh token spent already: %w", authkit.ErrConflict)
		}
		if child != nil {
			return insertRefresh(ctx, tx, child)
		}
		return nil
	})
}

// ---- signing keys

// CreateSigningKey implements authkit.SigningKeyStore.
func (s *Store) CreateSigningKey(ctx context.Context, k *authkit.SigningKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, sealed, public, created_at, retired_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.Algorithm, k.Sealed, k.Public, k.CreatedAt.UTC(), tz(k.RetiredAt), tz(k.ExpiresAt))
	if err != nil {
		return fmt.Errorf("postgres: create signing key: %w", mapErr(err))
	}
	return nil
}

// SigningKeys implements authkit.SigningKeyStore.
func (s *Store) SigningKeys(ctx context.Context) ([]*authkit.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, algorithm, sealed, public, created_at, retired_at, expires_at FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", err)
	}
	defer rows.Close()
	var out []*authkit.SigningKey
	for rows.Next() {
		var k authkit.SigningKey
		var created time.Time
		var retired, expires *time.Time
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.Public, &created, &retired, &expires); err != nil {
			return nil, fmt.Errorf("postgres: signing keys: %w", err)
		}
		k.CreatedAt, k.RetiredAt, k.ExpiresAt = created.UTC(), fromTZ(retired), fromTZ(expires)
		out = append(out, &k)
	}
	return out, rows.Err()
}

// RetireSigningKey implements authkit.SigningKeyStore.
func (s *Store) RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE id = $3`, tz(retiredAt), tz(expiresAt), id)
	if err != nil {
		return fmt.Errorf("postgres: retire signing key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("signing key")
	}
	return nil
}

// RevokeSigningKey implements authkit.SigningKeyStore.
func (s *Store) RevokeSigningKey(ctx context.Context, id string, at time.Time) error {
	r := authkit.Revocation{Kind: authkit.RevokedSigningKey, ID: id}
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE signing_keys SET retired_at = COALESCE(retired_at, $1), expires_at = $1 WHERE id = $2`, at.UTC(), id)
		if err != nil {
			return fmt.Errorf("postgres: revoke signing key: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("signing key")
		}
		return s.notify(ctx, tx, r)
	})
	if err == nil {
		s.Publish(r)
	}
	return err
}

// ---- cleanup

// Cleanup implements authkit.Store, deleting in batches of 500 rows.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int, error) {
	total := 0
	if _, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET child_sealed = NULL WHERE child_sealed IS NOT NULL AND spent_at <= $1`,
		now.Add(-authkit.MaxRefreshGrace).UTC()); err != nil {
		return 0, fmt.Errorf("postgres: cleanup: erase sealed pairs: %w", err)
	}
	for _, q := range []string{
		`DELETE FROM key_secrets WHERE hash IN (SELECT hash FROM key_secrets WHERE expires_at <= $1 LIMIT 500)`,
		`DELETE FROM refresh_tokens WHERE hash IN (SELECT r.hash FROM refresh_tokens r LEFT JOIN sessions s ON s.id = r.session_id
			WHERE r.expires_at <= $1 OR s.expires_at <= $1 LIMIT 500)`,
		`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= $1 LIMIT 500)`,
		`DELETE FROM signing_keys WHERE id IN (SELECT id FROM signing_keys WHERE expires_at <= $1 LIMIT 500)`,
		`DELETE FROM counter_windows WHERE name IN (SELECT name FROM counter_windows WHERE window_end <= extract(epoch FROM $1::timestamptz) * 1000 LIMIT 500)`,
	} {
		for {
			tag, err := s.pool.Exec(ctx, q, now.UTC())
			if err != nil {
				return total, fmt.Errorf("postgres: cleanup: %w", err)
			}
			total += int(tag.RowsAffected())
			if tag.RowsAffected() < 500 {
				break
			}
		}
	}
	return total, nil
}
