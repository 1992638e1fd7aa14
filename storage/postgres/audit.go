package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authkit/authkit"
)

// AppendAudit implements authkit.AuditStore.
func (s *Store) AppendAudit(ctx context.Context, events []authkit.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		for _, e := range events {
			actor, _ := json.Marshal(e.Actor) // cannot fail: plain data
			if _, err := tx.Exec(ctx, `INSERT INTO audit (id, at, owner, action, target, detail, actor) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				e.ID, e.At.UTC(), e.Owner, string(e.Action), e.Target, e.Detail, string(actor)); err != nil {
				return fmt.Errorf("postgres: append audit: %w", mapErr(err))
			}
		}
		return nil
	})
}

// AuditLog implements authkit.AuditStore.
func (s *Store) AuditLog(ctx context.Context, owner string, p authkit.Page) ([]authkit.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, at, owner, action, target, detail, actor::text FROM audit WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3`,
		owner, p.After, p.Size())
	if err != nil {
		return nil, fmt.Errorf("postgres: audit log: %w", err)
	}
	defer rows.Close()
	out := []authkit.AuditEvent{}
	for rows.Next() {
		var e authkit.AuditEvent
		var action, actor string
		if err := rows.Scan(&e.ID, &e.At, &e.Owner, &action, &e.Target, &e.Detail, &actor); err != nil {
			return nil, fmt.Errorf("postgres: audit log: %w", err)
		}
		e.At, e.Action = e.At.UTC(), authkit.AuditAction(action)
		if err := json.Unmarshal([]byte(actor), &e.Actor); err != nil {
			return nil, fmt.Errorf("postgres: audit log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteAudit implements authkit.AuditStore.
func (s *Store) DeleteAudit(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit WHERE at < $1`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("postgres: delete audit: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
