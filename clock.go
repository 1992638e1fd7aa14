package authkit

import (
	"sync"
	"time"
)

// Clock tells the time. A nil Clock is the system clock, so that a zero
// Config works; tests inject their own to move time without sleeping.
type Clock func() time.Time

// Now returns the current time in UTC, truncated to microseconds (the
// precision every store keeps).
func (c Clock) Now() time.Time {
	var t time.Time
	if c == nil {
		t = time.Now()
	} else {
		t = c()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// FakeClock is a settable clock for tests and examples. It is safe for
// concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a FakeClock standing at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t} }

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Clock returns c as a [Clock].
func (c *FakeClock) Clock() Clock { return c.Now }
