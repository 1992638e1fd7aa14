package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestCounters_EndedWindowsAreSwept: a counter per client address, say,
// over many windows, holds about the windows in use, not every name ever
// counted.
func TestCounters_EndedWindowsAreSwept(t *testing.T) {
	is := is.New(t)
	var c Counters
	now := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	for w := range 50 { // 50 one-second windows of 2,000 new names each
		for i := range 2000 {
			_, err := c.Limit(context.Background(), fmt.Sprint(w, "-", i), 1, 10, time.Second, now)
			is.NoErr(err)
		}
		now = now.Add(time.Second)
	}
	is.True(len(c.windows) <= 4*2000) // not 100,000
}
