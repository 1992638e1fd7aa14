// Package refresh runs the background reads of the stale-while-refresh
// caches (keys' verified keys, limits' policies): a bounded queue, a few
// long-lived goroutines (their stacks grow once, not per read), one read
// under way per entry, and freshness spread at random.
package refresh

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/authkit/authkit"
)

// Queue reads entries of type T again in the background. It is safe for
// concurrent use.
type Queue[T any] struct {
	ch    chan item[T]
	after time.Duration
}

type item[T any] struct {
	v  T
	at time.Time // offered
}

// The queue's shape: what two readers of a store keep up with, and room
// for a burst of stale entries.
const (
	readers = 2
	size    = 1024
)

// New starts the readers, which call read with each entry offered, in
// the order offered, no sooner than after its offer, until stop is closed.
// A delay lets another cache's read of the same record, offered by the
// same request just before, land first (limits' Gate waits for the key
// cache, whose fresh copy then spares it a read of the store).
func New[T any](stop <-chan struct{}, read func(T), after time.Duration) *Queue[T] {
	q := &Queue[T]{ch: make(chan item[T], size), after: after}
	for range readers {
		go func() {
			for {
				select {
				case <-stop:
					return
				case it := <-q.ch:
					if wait := time.Until(it.at.Add(q.after)); wait > 0 {
						select {
						case <-stop:
							return
						case <-time.After(wait):
						}
					}
					read(it.v)
				}
			}
		}()
	}
	return q
}

// Offer queues v to be read again unless a read of it is under way (busy
// set; read must clear it when it fails and the entry stays). With the
// queue full it gives up: a later use tries again.
func (q *Queue[T]) Offer(busy *atomic.Bool, v T) {
	if !busy.CompareAndSwap(false, true) {
		return
	}
	it := item[T]{v: v}
	if q.after > 0 {
		it.at = time.Now()
	}
	select {
	case q.ch <- it:
	default:
		busy.Store(false)
	}
}

// VouchedFor is how many times its TTL a cached record stays fresh when
// the store's Notifier vouches for it (Vouched): no change to it can have
// gone unheard, so the freshness that bounds a lost notification can be
// long.
const VouchedFor = 10

// Vouched reports whether h (the store's, nil if it has none) has been
// listening since before read (Unix ns, by the cache's clock): every
// change to a record read then has been or will be heard.
func Vouched(h authkit.NotifierHealth, read int64) bool {
	if h == nil {
		return false
	}
	since := h.ListeningSince()
	return !since.IsZero() && since.UnixNano() <= read
}

// Fresh is ttl less up to a fifth of it at random (ns): entries first seen
// together (a deploy, a burst of clients) are read again spread over that
// fifth, not all in the same second.
func Fresh(ttl int64) int64 {
	if ttl <= 0 {
		return ttl
	}
	return ttl - rand.Int64N(ttl/5+1)
}
