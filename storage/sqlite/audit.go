package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authkit/authkit"
)

// AppendAudit implements authkit.AuditStore.
func (s *Store) AppendAudit(ctx context.Context, events []authkit.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, e := range events {
			actor, _ := json.Marshal(e.Actor) // cannot fail: plain data
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit (id, at, owner, action, target, detail, actor) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				e.ID, micro(e.At), e.Owner, string(e.Action), e.Target, e.Detail, string(actor)); err != nil {
				return fmt.Errorf("sqlite: append audit: %w", mapErr(err))
			}
		}
		return nil
	})
}

// AuditLog implements authkit.AuditStore.
func (s *Store) AuditLog(ctx context.Context, owner string, p authkit.Page) ([]authkit.AuditEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, at, owner, action, target, detail, actor FROM audit WHERE owner = ? AND id > ? ORDER BY id LIMIT ?`,
		owner, p.After, p.Size())
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit log: %w", err)
	}
	defer rows.Close()
	out := []authkit.AuditEvent{}
	for rows.Next() {
		var e authkit.AuditEvent
		var at int64
		var action, actor string
		if err := rows.Scan(&e.ID, &at, &e.Owner, &action, &e.Target, &e.Detail, &actor); err != nil {
			return nil, fmt.Errorf("sqlite: audit log: %w", err)
		}
		e.At, e.Action = fromMicro(at), authkit.AuditAction(action)
		if err := json.Unmarshal([]byte(actor), &e.Actor); err != nil {
			return nil, fmt.Errorf("sqlite: audit log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteAudit implements authkit.AuditStore.
func (s *Store) DeleteAudit(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE at < ?`, micro(before))
		if err != nil {
			return fmt.Errorf("sqlite: delete audit: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}
