package authkit

import (
	"context"
	"time"
)

// Counters keep the counts behind rate limits and usage credits. Every call
// is one atomic step on the shared state, so that concurrent callers, in
// this process or in other replicas using the same Counters, never take
// more between them than a limit allows or a balance holds.
//
// Implementations: storage/memory's Counters (one process; the state is
// lost when it stops), storage/postgres's Store and storage/redis (many
// replicas). storage/storagetest.RunCounters is the suite they all pass.
//
// Windows are fixed: the window of length w that holds an instant t starts
// at the largest multiple of w since the Unix epoch not after t. A client
// may so spend a limit at the end of one window and again at the start of
// the next; in exchange, counts are exact, and Quota maps onto the RateLimit
// header fields (limit, remaining, seconds to reset) as they are.
//
// Callers pass the time, so that replicas, tests and fake clocks agree on
// the window; counts and balances are below 2^53. A failure of the backing
// engine is returned wrapped: whether to let the request through is the
// caller's choice, never the Counters'.
type Counters interface {
	// Limit counts cost against the counter named key in the window of
	// length window that holds now, if the count stays within limit;
	// otherwise it counts nothing and answers Allowed false. limit is
	// positive; cost 0 reads the window's count without counting.
	Limit(ctx context.Context, key string, cost, limit int64, window time.Duration, now time.Time) (Quota, error)

	// Spend takes cost (0 or more) from the balance named key if it holds
	// that much, and returns the balance left and whether it was taken; it
	// never goes below zero. A balance not seen before starts at
	// c.Initial, as of now. With c.RefillEvery > 0 the balance is set back
	// to c.RefillAmount at every multiple of RefillEvery after the instant
	// it started (or was last set): refills do not add up. Spend with cost
	// 0 reads the balance.
	Spend(ctx context.Context, key string, cost int64, c Credits, now time.Time) (remaining int64, ok bool, err error)

	// SetBalance sets the balance named key to remaining, as of now: its
	// refills count from now on.
	SetBalance(ctx context.Context, key string, remaining int64, now time.Time) error
}

// Quota is what [Counters.Limit] answers.
type Quota struct {
	Allowed   bool      // the cost was counted
	Limit     int64     // the limit asked for
	Remaining int64     // what is left of the limit in this window, after this call
	Reset     time.Time // when this window ends
}

// Credits describe a balance for [Counters.Spend]: where it starts, and
// how it refills (RefillEvery 0: never).
type Credits struct {
	Initial      int64         `json:"initial"`
	RefillAmount int64         `json:"refill_amount,omitempty"`
	RefillEvery  time.Duration `json:"refill_every,omitempty"`
}

// WindowOf returns the start and the end of the window of length window
// that holds now, in Unix milliseconds: the arithmetic every [Counters]
// shares.
func WindowOf(now time.Time, window time.Duration) (start, end int64) {
	w := window.Milliseconds()
	if w <= 0 {
		w = 1
	}
	ms := now.UnixMilli()
	start = ms - ms%w
	if ms < 0 && ms%w != 0 {
		start -= w
	}
	return start, start + w
}
