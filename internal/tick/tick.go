// Package tick runs the plain background loops of authkit's services and
// stores: a function at an interval, in a goroutine of its own, until
// stopped (the keys' and the usage's flushes, SQLite's checkpoints and
// relay polls).
package tick

import (
	"sync"
	"time"
)

// Loop calls a function at an interval until Stop. A nil *Loop is a loop
// that never started: Stop does nothing.
type Loop struct {
	halt chan struct{}
	done chan struct{}
	once sync.Once
}

// Start calls fn every every (which must be positive), the first time
// after one interval, until Stop.
func Start(every time.Duration, fn func()) *Loop {
	l := &Loop{halt: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-l.halt:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return l
}

// Stop stops l and waits for a call of fn under way to return. It may be
// called more than once.
func (l *Loop) Stop() {
	if l == nil {
		return
	}
	l.once.Do(func() { close(l.halt) })
	<-l.done
}
