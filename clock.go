package authkit

import "time"

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
