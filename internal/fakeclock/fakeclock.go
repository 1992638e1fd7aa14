// Package fakeclock is a settable clock for authkit's tests: pass
// [Clock.Now] wherever an authkit.Clock is taken, and move time with
// [Clock.Advance] instead of sleeping.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a settable clock. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock standing at t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
