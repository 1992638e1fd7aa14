package memory

import (
	"context"
	"sync"
	"time"

	"github.com/authkit/authkit"
)

// Counters are authkit.Counters for one process: the state is lost when it
// stops, and other processes do not see it. The zero value is ready to use,
// and safe for concurrent use.
//
// Windows that have ended are swept when the number held doubles, so the
// memory held is about twice that of the windows in use. A balance is kept
// until SetBalance or the process ends: there is one per key with credits.
type Counters struct {
	mu       sync.Mutex
	windows  map[string]*window
	balances map[string]*balance
	sweepAt  int // len(windows) at which ended windows are swept
}

type window struct {
	end   int64 // Unix milliseconds
	count int64
}

type balance struct {
	remaining int64
	at        int64 // Unix milliseconds: when it was set, or last refilled
}

var _ authkit.Counters = (*Counters)(nil)

// minSweep is the smallest number of windows at which a sweep runs.
const minSweep = 1024

// Limit implements authkit.Counters.
func (c *Counters) Limit(ctx context.Context, key string, cost, limit int64, win time.Duration, now time.Time) (authkit.Quota, error) {
	if err := ctx.Err(); err != nil {
		return authkit.Quota{}, err
	}
	start, end := authkit.WindowOf(now, win)
	q := authkit.Quota{Limit: limit, Reset: time.UnixMilli(end).UTC()}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.windows[key]
	if w == nil || w.end != end {
		if w == nil {
			if c.windows == nil {
				c.windows = map[string]*window{}
			}
			c.sweep(start)
			w = &window{}
			c.windows[key] = w
		}
		w.end, w.count = end, 0
	}
	if cost <= limit-w.count {
		w.count += cost
		q.Allowed = true
	}
	q.Remaining = limit - w.count
	return q, nil
}

// sweep removes the windows that ended by now (Unix milliseconds) once
// there are sweepAt of them, and sets the next threshold.
func (c *Counters) sweep(now int64) {
	if len(c.windows) < max(c.sweepAt, minSweep) {
		return
	}
	for k, w := range c.windows {
		if w.end <= now {
			delete(c.windows, k)
		}
	}
	c.sweepAt = 2 * len(c.windows)
}

// Spend implements authkit.Counters.
func (c *Counters) Spend(ctx context.Context, key string, cost int64, cr authkit.Credits, now time.Time) (int64, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	ms := now.UnixMilli()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.balances[key]
	if b == nil {
		if c.balances == nil {
			c.balances = map[string]*balance{}
		}
		b = &balance{remaining: cr.Initial, at: ms}
		c.balances[key] = b
	}
	if every := cr.RefillEvery.Milliseconds(); every > 0 && ms >= b.at+every {
		b.remaining, b.at = cr.RefillAmount, b.at+(ms-b.at)/every*every
	}
	if cost > b.remaining {
		return b.remaining, false, nil
	}
	b.remaining -= cost
	return b.remaining, true, nil
}

// SetBalance implements authkit.Counters.
func (c *Counters) SetBalance(ctx context.Context, key string, remaining int64, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.balances == nil {
		c.balances = map[string]*balance{}
	}
	c.balances[key] = &balance{remaining: remaining, at: now.UnixMilli()}
	return nil
}
