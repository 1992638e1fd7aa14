package tick_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit/internal/tick"
)

func TestLoop_CallsUntilStopAndWaitsForTheCallUnderWay(t *testing.T) {
	is := is.New(t)
	var calls, running atomic.Int64
	l := tick.Start(time.Millisecond, func() {
		running.Add(1)
		time.Sleep(20 * time.Millisecond)
		calls.Add(1)
		running.Add(-1)
	})
	for calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	for running.Load() == 0 { // stop during a call
		time.Sleep(time.Millisecond)
	}
	l.Stop()
	is.Equal(running.Load(), int64(0)) // the call under way ended before Stop returned
	n := calls.Load()
	time.Sleep(30 * time.Millisecond)
	is.Equal(calls.Load(), n) // and none came after
	l.Stop()                  // twice is fine
	var never *tick.Loop
	never.Stop() // so is a loop that never started
}
