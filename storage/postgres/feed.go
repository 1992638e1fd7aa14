package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/authkit/authkit"
)

// RevokedSince implements authkit.Store.
func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]authkit.Revocation, error) {
	var out []authkit.Revocation
	for _, q := range []struct {
		kind authkit.RevocationKind
		sql  string
		args []any
	}{
		{authkit.RevokedKey, `SELECT id FROM keys WHERE revoked_at >= $1`, []any{since.UTC()}},
		{authkit.RevokedSession, `SELECT id FROM sessions WHERE revoked_at >= $1`, []any{since.UTC()}},
		{authkit.ChangedKey, `SELECT id FROM keys WHERE disabled AND revoked_at IS NULL`, nil},
	} {
		rows, err := s.pool.Query(ctx, q.sql, q.args...)
		if err != nil {
			return nil, fmt.Errorf("postgres: revoked since: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("postgres: revoked since: %w", err)
			}
			out = append(out, authkit.Revocation{Kind: q.kind, ID: id})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("postgres: revoked since: %w", err)
		}
	}
	return out, nil
}
