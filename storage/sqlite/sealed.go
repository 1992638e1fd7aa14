package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authkit/authkit"
)

// HashKey implements authkit.SealedStore.
func (s *Store) HashKey(ctx context.Context, name string) ([]byte, error) {
	var sealed []byte
	err := s.r.QueryRowContext(ctx, `SELECT sealed FROM hash_keys WHERE name = ?`, name).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("hash key")
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: hash key: %w", err)
	}
	return sealed, nil
}

// CreateHashKey implements authkit.SealedStore.
func (s *Store) CreateHashKey(ctx context.Context, name string, sealed []byte) error {
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO hash_keys (name, sealed, created_at) VALUES (?, ?, ?)`, name, sealed, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("sqlite: hash key: %w", mapErr(err))
		}
		return nil
	})
}

// sealedColumns are where sealed values live: the table, its primary key
// (and the value of it below every row's), what the value is bound to, and
// the column.
var sealedColumns = []struct {
	kind           authkit.SealedKind
	table, pk, aad string
	col            string
	below          any
}{
	{authkit.SealedKeySecret, "key_secrets", "hash", "key_id", "sealed", []byte{}},
	{authkit.SealedSessionToken, "sessions", "id", "id", "token_sealed", ""},
	{authkit.SealedRefreshPair, "refresh_tokens", "hash", "hash", "child_sealed", []byte{}},
	{authkit.SealedSigningKey, "signing_keys", "id", "id", "sealed", ""},
	{authkit.SealedHashKey, "hash_keys", "name", "name", "sealed", ""},
}

// resealBatch is how many values Reseal reads, and writes back in one
// transaction, at a time.
const resealBatch = 200

// Reseal implements authkit.SealedStore: each table is walked in primary
// key order, 200 rows a read; what fn returns is written back in one short
// transaction per batch, each row only if its value is still the one read.
func (s *Store) Reseal(ctx context.Context, fn func(authkit.SealedValue) ([]byte, error)) (replaced int, err error) {
	for _, c := range sealedColumns {
		after := c.below
		for {
			rows, err := s.r.QueryContext(ctx, fmt.Sprintf(`SELECT %s, %s, %s FROM %s WHERE %s > ? AND %s IS NOT NULL ORDER BY %s LIMIT %d`,
				c.pk, c.aad, c.col, c.table, c.pk, c.col, c.pk, resealBatch), after)
			if err != nil {
				return replaced, fmt.Errorf("sqlite: reseal %s: %w", c.table, err)
			}
			type update struct {
				pk        any
				old, next []byte
			}
			var updates []update
			n := 0
			for rows.Next() {
				var pk, aad any
				var sealed []byte
				if err := rows.Scan(&pk, &aad, &sealed); err != nil {
					rows.Close()
					return replaced, fmt.Errorf("sqlite: reseal %s: %w", c.table, err)
				}
				n++
				after = pk
				if len(sealed) == 0 {
					continue
				}
				next, err := fn(authkit.SealedValue{Kind: c.kind, AAD: asBytes(aad), Sealed: sealed})
				if err != nil {
					rows.Close()
					return replaced, err
				}
				if next != nil {
					updates = append(updates, update{pk, sealed, next})
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return replaced, fmt.Errorf("sqlite: reseal %s: %w", c.table, err)
			}
			if len(updates) > 0 {
				q := fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s = ? AND %s = ?`, c.table, c.col, c.pk, c.col)
				done := 0 // counted once committed
				err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
					for _, u := range updates {
						res, err := tx.ExecContext(ctx, q, u.next, u.pk, u.old)
						if err != nil {
							return err
						}
						m, _ := res.RowsAffected()
						done += int(m)
					}
					return nil
				})
				if err != nil {
					return replaced, fmt.Errorf("sqlite: reseal %s: %w", c.table, err)
				}
				replaced += done
			}
			if n < resealBatch {
				break
			}
		}
	}
	return replaced, nil
}

// asBytes is a column read as any (TEXT comes as a string, BLOB as bytes)
// as bytes.
func asBytes(v any) []byte {
	switch x := v.(type) {
	case string:
		return []byte(x)
	case []byte:
		return x
	}
	return nil
}
