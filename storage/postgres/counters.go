package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authkit/authkit"
)

var _ authkit.Counters = (*Store)(nil)

// Limit implements authkit.Counters in one statement: the row of key is
// locked by the upsert, so concurrent callers on any replica are counted
// one after another. A refusal reads the count in a second statement.
func (s *Store) Limit(ctx context.Context, key string, cost, limit int64, window time.Duration, now time.Time) (authkit.Quota, error) {
	_, end := authkit.WindowOf(now, window)
	q := authkit.Quota{Limit: limit, Reset: time.UnixMilli(end).UTC()}
	var count int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO counter_windows AS w (name, window_end, count) SELECT $1::text, $2::bigint, $3::bigint WHERE $3::bigint <= $4::bigint
		ON CONFLICT (name) DO UPDATE
			SET window_end = excluded.window_end,
				count = CASE WHEN w.window_end = excluded.window_end THEN w.count + excluded.count ELSE excluded.count END
			WHERE w.window_end <> excluded.window_end OR w.count + excluded.count <= $4::bigint
		RETURNING count`, key, end, cost, limit).Scan(&count)
	switch {
	case err == nil:
		q.Allowed, q.Remaining = true, limit-count
		return q, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return q, fmt.Errorf("postgres: limit: %w", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT count FROM counter_windows WHERE name = $1 AND window_end = $2`, key, end).Scan(&count)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return q, fmt.Errorf("postgres: limit: %w", err)
	}
	q.Remaining = max(limit-count, 0)
	return q, nil
}

// due is the condition that a refill fell due for a balance row at the
// parameter now (Unix milliseconds), with a refill every parameter every
// milliseconds (0: never).
func due(now, every string) string {
	return `(` + every + `::bigint > 0 AND ` + now + `::bigint >= refilled_at + ` + every + `::bigint)`
}

// Spend implements authkit.Counters: one statement when the balance exists,
// an update whose condition and arithmetic read the row's latest version
// under its lock, so that concurrent spends on any replica see each
// other's. Creating the balance the first time takes one more.
func (s *Store) Spend(ctx context.Context, key string, cost int64, c authkit.Credits, now time.Time) (int64, bool, error) {
	ms, every := now.UnixMilli(), c.RefillEvery.Milliseconds()
	// A few rounds: the update can miss a balance another replica is
	// creating at that very moment, and then finds it on the next round.
	for range 4 {
		var left int64
		err := s.pool.QueryRow(ctx, `
			UPDATE counter_balances SET
				remaining = (CASE WHEN `+due("$3", "$5")+` THEN $4::bigint ELSE remaining END) - $2::bigint,
				refilled_at = CASE WHEN `+due("$3", "$5")+` THEN refilled_at + ($3::bigint - refilled_at) / $5::bigint * $5::bigint ELSE refilled_at END
			WHERE name = $1 AND (CASE WHEN `+due("$3", "$5")+` THEN $4::bigint ELSE remaining END) >= $2::bigint
			RETURNING remaining`, key, cost, ms, c.RefillAmount, every).Scan(&left)
		if err == nil {
			return left, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, false, fmt.Errorf("postgres: spend: %w", err)
		}
		// Not enough, or no balance when the update ran.
		err = s.pool.QueryRow(ctx, `SELECT CASE WHEN `+due("$2", "$4")+` THEN $3::bigint ELSE remaining END
			FROM counter_balances WHERE name = $1`, key, ms, c.RefillAmount, every).Scan(&left)
		switch {
		case err == nil && left < cost:
			return left, false, nil
		case err == nil: // created meanwhile, with enough: update again
			continue
		case !errors.Is(err, pgx.ErrNoRows):
			return 0, false, fmt.Errorf("postgres: spend: %w", err)
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO counter_balances (name, remaining, refilled_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, key, c.Initial, ms); err != nil {
			return 0, false, fmt.Errorf("postgres: spend: %w", err)
		}
	}
	return 0, false, fmt.Errorf("postgres: spend: the balance of %q kept changing: %w", key, authkit.ErrConflict)
}

// SetBalance implements authkit.Counters.
func (s *Store) SetBalance(ctx context.Context, key string, remaining int64, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO counter_balances (name, remaining, refilled_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET remaining = excluded.remaining, refilled_at = excluded.refilled_at`,
		key, remaining, now.UnixMilli()); err != nil {
		return fmt.Errorf("postgres: set balance: %w", err)
	}
	return nil
}
