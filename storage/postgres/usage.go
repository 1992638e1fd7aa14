package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authkit/authkit"
)

// AddUsage implements authkit.UsageStore: one statement for the batch,
// its rows in one order, so that replicas adding at once never deadlock.
func (s *Store) AddUsage(ctx context.Context, counts []authkit.UsageCount) error {
	if len(counts) == 0 {
		return nil
	}
	counts = slices.Clone(counts)
	slices.SortFunc(counts, func(a, b authkit.UsageCount) int {
		return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), a.Start.Compare(b.Start), cmp.Compare(a.Outcome, b.Outcome))
	})
	ids, starts, outcomes, ns := make([]string, len(counts)), make([]time.Time, len(counts)), make([]string, len(counts)), make([]int64, len(counts))
	for i, c := range counts {
		ids[i], starts[i], outcomes[i], ns[i] = c.KeyID, c.Start.UTC(), string(c.Outcome), c.Count
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO key_usage (key_id, start, outcome, count)
			SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[])
			ON CONFLICT (key_id, start, outcome) DO UPDATE SET count = key_usage.count + excluded.count`, ids, starts, outcomes, ns)
		if err != nil {
			return fmt.Errorf("postgres: add usage: %w", err)
		}
		return nil
	})
}

// Usage implements authkit.UsageStore.
func (s *Store) Usage(ctx context.Context, keyID string, from, to time.Time) ([]authkit.UsageCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT start, outcome, count FROM key_usage WHERE key_id = $1 AND start >= $2 AND start < $3 ORDER BY start, outcome`,
		keyID, from.UTC(), to.UTC())
	if err != nil {
		return nil, fmt.Errorf("postgres: usage: %w", err)
	}
	defer rows.Close()
	var out []authkit.UsageCount
	for rows.Next() {
		c := authkit.UsageCount{KeyID: keyID}
		var outcome string
		if err := rows.Scan(&c.Start, &outcome, &c.Count); err != nil {
			return nil, fmt.Errorf("postgres: usage: %w", err)
		}
		c.Start, c.Outcome = c.Start.UTC(), authkit.Outcome(outcome)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: usage: %w", err)
	}
	return out, nil
}

// DeleteUsage implements authkit.UsageStore.
func (s *Store) DeleteUsage(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM key_usage WHERE start < $1`, before.UTC())
	if err != nil {
		return 0, fmt.Errorf("postgres: delete usage: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
