package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/authkit/authkit"
)

// AddUsage implements authkit.UsageStore.
func (s *Store) AddUsage(ctx context.Context, counts []authkit.UsageCount) error {
	if len(counts) == 0 {
		return nil
	}
	return s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO key_usage (key_id, start, outcome, count) VALUES (?, ?, ?, ?)
			ON CONFLICT (key_id, start, outcome) DO UPDATE SET count = count + excluded.count`)
		if err != nil {
			return fmt.Errorf("sqlite: add usage: %w", err)
		}
		defer st.Close()
		for _, c := range counts {
			if _, err := st.ExecContext(ctx, c.KeyID, c.Start.Unix(), string(c.Outcome), c.Count); err != nil {
				return fmt.Errorf("sqlite: add usage: %w", err)
			}
		}
		return nil
	})
}

// Usage implements authkit.UsageStore.
func (s *Store) Usage(ctx context.Context, keyID string, from, to time.Time) ([]authkit.UsageCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT start, outcome, count FROM key_usage WHERE key_id = ? AND start >= ? AND start < ? ORDER BY start, outcome`,
		keyID, from.Unix(), to.Unix())
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	defer rows.Close()
	var out []authkit.UsageCount
	for rows.Next() {
		c := authkit.UsageCount{KeyID: keyID}
		var start int64
		var outcome string
		if err := rows.Scan(&start, &outcome, &c.Count); err != nil {
			return nil, fmt.Errorf("sqlite: usage: %w", err)
		}
		c.Start, c.Outcome = time.Unix(start, 0).UTC(), authkit.Outcome(outcome)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: usage: %w", err)
	}
	return out, nil
}

// DeleteUsage implements authkit.UsageStore.
func (s *Store) DeleteUsage(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM key_usage WHERE start < ?`, before.Unix())
		if err != nil {
			return fmt.Errorf("sqlite: delete usage: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}
