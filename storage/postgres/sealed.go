package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/authkit/authkit"
)

// HashKey implements authkit.SealedStore.
func (s *Store) HashKey(ctx context.Context, name string) ([]byte, error) {
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT sealed FROM hash_keys WHERE name = $1`, name).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("hash key")
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: hash key: %w", err)
	}
	return sealed, nil
}

// CreateHashKey implements authkit.SealedStore.
func (s *Store) CreateHashKey(ctx context.Context, name string, sealed []byte) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO hash_keys (name, sealed) VALUES ($1, $2)`, name, sealed); err != nil {
		return fmt.Errorf("postgres: hash key: %w", mapErr(err))
	}
	return nil
}

// sealedColumns are where sealed values live: the table, its primary key,
// what the value is bound to, and the column.
var sealedColumns = []struct {
	kind           authkit.SealedKind
	table, pk, aad string
	col            string
	bytea          bool // the primary key is BYTEA, else TEXT
	textAAD        bool // what the value is bound to is TEXT, else BYTEA
}{
	{authkit.SealedKeySecret, "key_secrets", "hash", "key_id", "sealed", true, true},
	{authkit.SealedSessionToken, "sessions", "id", "id", "token_sealed", false, true},
	{authkit.SealedRefreshPair, "refresh_tokens", "hash", "hash", "child_sealed", true, false},
	{authkit.SealedSigningKey, "signing_keys", "id", "id", "sealed", false, true},
	{authkit.SealedHashKey, "hash_keys", "name", "name", "sealed", false, true},
}

// resealBatch is how many values Reseal reads, and writes back in one
// statement, at a time.
const resealBatch = 200

// Reseal implements authkit.SealedStore: each table is walked in primary
// key order, 200 rows a read; what fn returns is written back by one
// statement per batch, each row only if its value is still the one read.
func (s *Store) Reseal(ctx context.Context, fn func(authkit.SealedValue) ([]byte, error)) (replaced int, err error) {
	for _, c := range sealedColumns {
		var after any = ""
		cast := "text"
		if c.bytea {
			after, cast = []byte{}, "bytea"
		}
		for {
			aad := c.aad
			if c.textAAD {
				aad = "convert_to(" + aad + ", 'UTF8')"
			}
			rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT %s, %s, %s FROM %s WHERE %s > $1 AND %s IS NOT NULL ORDER BY %s LIMIT %d`,
				c.pk, aad, c.col, c.table, c.pk, c.col, c.pk, resealBatch), after)
			if err != nil {
				return replaced, fmt.Errorf("postgres: reseal %s: %w", c.table, err)
			}
			var pkTexts []string
			var pkBytes, olds, nexts [][]byte
			n := 0
			for rows.Next() {
				var aad, sealed []byte
				var pkText string
				var pkBytea []byte
				if c.bytea {
					err = rows.Scan(&pkBytea, &aad, &sealed)
					after = pkBytea
				} else {
					err = rows.Scan(&pkText, &aad, &sealed)
					after = pkText
				}
				if err != nil {
					rows.Close()
					return replaced, fmt.Errorf("postgres: reseal %s: %w", c.table, err)
				}
				n++
				if len(sealed) == 0 {
					continue
				}
				next, err := fn(authkit.SealedValue{Kind: c.kind, AAD: aad, Sealed: sealed})
				if err != nil {
					rows.Close()
					return replaced, err
				}
				if next != nil {
					pkTexts, pkBytes = append(pkTexts, pkText), append(pkBytes, pkBytea)
					olds, nexts = append(olds, sealed), append(nexts, next)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return replaced, fmt.Errorf("postgres: reseal %s: %w", c.table, err)
			}
			if len(nexts) > 0 {
				var pks any = pkTexts
				if c.bytea {
					pks = pkBytes
				}
				q := fmt.Sprintf(`UPDATE %s t SET %s = u.next FROM unnest($1::%s[], $2::bytea[], $3::bytea[]) AS u(pk, old, next)
					WHERE t.%s = u.pk AND t.%s = u.old`, c.table, c.col, cast, c.pk, c.col)
				tag, err := s.pool.Exec(ctx, q, pks, olds, nexts)
				if err != nil {
					return replaced, fmt.Errorf("postgres: reseal %s: %w", c.table, err)
				}
				replaced += int(tag.RowsAffected())
			}
			if n < resealBatch {
				break
			}
		}
	}
	return replaced, nil
}
