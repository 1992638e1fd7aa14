package refresh

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"
)

// TestQueue_OneReadAtATimePerEntry: an entry offered while its read is
// under way is not queued again; once read (and cleared by read), it is.
func TestQueue_OneReadAtATimePerEntry(t *testing.T) {
	is := is.New(t)
	stop := make(chan struct{})
	defer close(stop)
	var busy atomic.Bool
	release, reads := make(chan struct{}), make(chan int, 10)
	q := New(stop, func(v int) {
		<-release
		reads <- v
		busy.Store(false)
	}, 0)
	q.Offer(&busy, 1)
	q.Offer(&busy, 1) // under way: dropped
	release <- struct{}{}
	is.Equal(<-reads, 1)
	select {
	case v := <-reads:
		t.Fatalf("read twice: %d", v)
	case <-time.After(50 * time.Millisecond):
	}
	q.Offer(&busy, 2)
	release <- struct{}{}
	is.Equal(<-reads, 2)
}

// TestQueue_ReadsNoSoonerThanAfter: with a delay, an entry is read that
// long after its offer, not before.
func TestQueue_ReadsNoSoonerThanAfter(t *testing.T) {
	is := is.New(t)
	stop := make(chan struct{})
	defer close(stop)
	read := make(chan time.Time, 1)
	q := New(stop, func(int) { read <- time.Now() }, 50*time.Millisecond)
	var busy atomic.Bool
	offered := time.Now()
	q.Offer(&busy, 1)
	is.True((<-read).Sub(offered) >= 50*time.Millisecond)
}

func TestFresh_AFifthLessAtMost(t *testing.T) {
	is := is.New(t)
	for range 1000 {
		f := Fresh(100)
		is.True(f >= 80 && f <= 100)
	}
	is.Equal(Fresh(0), int64(0))
}
