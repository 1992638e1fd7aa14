package storagetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
)

// NewCounters returns two handles on one fresh set of counters, as two
// replicas hold them: two clients of a shared engine, or the same value
// twice for an in-process one. The suite names its counters afresh in
// every subtest, so the set may be shared by all of them.
type NewCounters func(t *testing.T) (a, b authkit.Counters)

// RunCounters runs the conformance suite of authkit.Counters: windows,
// costs, balances and refills, and concurrent callers on both handles that
// together take exactly the limit and exactly the balance.
func RunCounters(t *testing.T, newCounters NewCounters) {
	// In the middle of a minute, so that the windows below are whole.
	t0 := time.Date(2026, 1, 2, 3, 4, 30, 0, time.UTC)
	t.Run("LimitCountsUpToTheLimitInAWindow", func(t *testing.T) {
		is := is.New(t)
		c, _ := newCounters(t)
		key := "limit-" + id()
		for i := range 5 {
			q, err := c.Limit(ctx, key, 1, 5, time.Minute, t0.Add(time.Duration(i)*time.Second))
			is.NoErr(err)
			is.True(q.Allowed)
			is.Equal(q.Limit, int64(5))
			is.Equal(q.Remaining, int64(4-i))
			is.Equal(q.Reset, time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC))
		}
		q, err := c.Limit(ctx, key, 1, 5, time.Minute, t0.Add(29*time.Second))
		is.NoErr(err)
		is.True(!q.Allowed)
		is.Equal(q.Remaining, int64(0))
		// The next window starts afresh.
		q, err = c.Limit(ctx, key, 1, 5, time.Minute, t0.Add(30*time.Second))
		is.NoErr(err)
		is.True(q.Allowed)
		is.Equal(q.Remaining, int64(4))
		is.Equal(q.Reset, time.Date(2026, 1, 2, 3, 6, 0, 0, time.UTC))
	})
	t.Run("LimitWithCostZeroReads", func(t *testing.T) {
		is := is.New(t)
		c, _ := newCounters(t)
		key := "read-" + id()
		q, err := c.Limit(ctx, key, 0, 3, time.Minute, t0)
		is.NoErr(err)
		is.Equal(q.Remaining, int64(3)) // nothing counted yet
		for range 3 {
			_, err = c.Limit(ctx, key, 1, 3, time.Minute, t0)
			is.NoErr(err)
		}
		q, err = c.Limit(ctx, key, 0, 3, time.Minute, t0)
		is.NoErr(err)
		is.Equal(q.Remaining, int64(0)) // spent: a reader sees it without counting
		is.Equal(q.Reset, time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC))
	})
	t.Run("LimitCostsAndRefusalsCountNothing", func(t *testing.T) {
		is := is.New(t)
		c, _ := newCounters(t)
		key := "cost-" + id()
		q, err := c.Limit(ctx, key, 3, 5, time.Minute, t0)
		is.NoErr(err)
		is.True(q.Allowed)
		is.Equal(q.Remaining, int64(2))
		q, err = c.Limit(ctx, key, 3, 5, time.Minute, t0) // 6 > 5: refused, nothing counted
		is.NoErr(err)
		is.True(!q.Allowed)
		is.Equal(q.Remaining, int64(2))
		q, err = c.Limit(ctx, key, 2, 5, time.Minute, t0)
		is.NoErr(err)
		is.True(q.Allowed)
		is.Equal(q.Remaining, int64(0))
		q, err = c.Limit(ctx, "other-"+id(), 6, 5, time.Minute, t0) // more than the limit: never
		is.NoErr(err)
		is.True(!q.Allowed)
		is.Equal(q.Remaining, int64(5))
	})
	t.Run("LimitKeysAreIndependent", func(t *testing.T) {
		is := is.New(t)
		c, _ := newCounters(t)
		a, b := "a-"+id(), "b-"+id()
		q, err := c.Limit(ctx, a, 1, 1, time.Second, t0)
		is.NoErr(err)
		is.True(q.Allowed)
		q, err = c.Limit(ctx, b, 1, 1, time.Second, t0)
		is.NoErr(err)
		is.True(q.Allowed)
		q, err = c.Limit(ctx, a, 1, 1, time.Second, t0)
		is.NoErr(err)
		is.True(!q.Allowed)
	})
	t.Run("LimitTwoHandlesTakeExactlyTheLimit", func(t *testing.T) {
		is := is.New(t)
		a, b := newCounters(t)
		key := "race-" + id()
		now := time.Now() // real time: a shared engine may expire windows by its own clock
		var allowed, n atomic.Int64
		race(200, func() {
			c := a
			if n.Add(1)%2 == 0 {
				c = b
			}
			q, err := c.Limit(ctx, key, 1, 50, time.Hour, now)
			if err != nil {
				t.Errorf("Limit: %v", err)
			}
			if q.Allowed {
				allowed.Add(1)
			}
		})
		is.Equal(allowed.Load(), int64(50))
	})
	t.Run("SpendTakesWhatTheBalanceHolds", func(t *testing.T) {
		is := is.New(t)
		c, _ := newCounters(t)
		key := "credits-" + id()
		cr := authkit.Credits{Initial: 10}
		left, ok, err := c.Spend(ctx, key, 0, cr, t0) // a read
		is.NoErr(err)
		is.True(ok)
		is.Equal(left, int64(10))
		left, ok, err = c.Spend(ctx, key, 4, cr, t0)
		is.NoErr(err)
		is.True(ok)
		is.Equal(left, int64(6))
		left, ok, err = c.Spend(ctx, key, 7, cr, t0) // more than is left: nothing taken
		is.NoErr(err)
		is.True(!ok)
		is.Equal(left, int64(6))
		left, ok, err = c.Spend(ctx, key, 6, cr, t0.Add(time.Hour)) // no refill: still 6
		is.NoErr(err)
		is.True(ok)
		is.Equal(left, int64(0))
		left, ok, err = c.Spend(ctx, key, 1, cr, t0.Add(time.Hour))
		is.NoErr(err)
		is.True(!ok)
		is.Equal(left, int64(0))
	})
	t.Run("SpendRefillsWithoutAddingUp", func(t *testing.T) {
		is := is.New(t)
		c, _ := newCounters(t)
		key := "refill-" + id()
		cr := authkit.Credits{Initial: 3, RefillAmount: 5, RefillEvery: time.Minute}
		left, ok, err := c.Spend(ctx, key, 3, cr, t0)
		is.NoErr(err)
		is.True(ok)
		is.Equal(left, int64(0))
		_, ok, err = c.Spend(ctx, key, 1, cr, t0.Add(59*time.Second))
		is.NoErr(err)
		is.True(!ok)
		left, ok, err = c.Spend(ctx, key, 1, cr, t0.Add(time.Minute)) // refilled to 5
		is.NoErr(err)
		is.True(ok)
		is.Equal(left, int64(4))
		// Three intervals later: 5 again, not 5 × 3, and the next refill
		// counts from the interval's start, not from this call.
		left, ok, err = c.Spend(ctx, key, 0, cr, t0.Add(4*time.Minute+30*time.Second))
		is.NoErr(err)
		is.True(ok)
		is.Equal(left, int64(5))
		_, _, err = c.Spend(ctx, key, 5, cr, t0.Add(4*time.Minute+30*time.Second))
		is.NoErr(err)
		left, _, err = c.Spend(ctx, key, 0, cr, t0.Add(5*time.Minute))
		is.NoErr(err)
		is.Equal(left, int64(5))
	})
	t.Run("SetBalance", func(t *testing.T) {
		is := is.New(t)
		c, _ := newCounters(t)
		key := "set-" + id()
		cr := authkit.Credits{Initial: 10, RefillAmount: 10, RefillEvery: time.Hour}
		_, _, err := c.Spend(ctx, key, 10, cr, t0)
		is.NoErr(err)
		is.NoErr(c.SetBalance(ctx, key, 2, t0.Add(30*time.Minute)))
		left, ok, err := c.Spend(ctx, key, 2, cr, t0.Add(80*time.Minute)) // refills count from the set
		is.NoErr(err)
		is.True(ok)
		is.Equal(left, int64(0))
		left, _, err = c.Spend(ctx, key, 0, cr, t0.Add(90*time.Minute))
		is.NoErr(err)
		is.Equal(left, int64(10))
		is.NoErr(c.SetBalance(ctx, "new-"+id(), 1, t0)) // a balance never spent
	})
	t.Run("SpendTwoHandlesNeverBelowZero", func(t *testing.T) {
		is := is.New(t)
		a, b := newCounters(t)
		key := "spend-race-" + id()
		cr := authkit.Credits{Initial: 100}
		var spent, n atomic.Int64
		race(300, func() {
			c := a
			if n.Add(1)%2 == 0 {
				c = b
			}
			left, ok, err := c.Spend(ctx, key, 1, cr, t0)
			if err != nil {
				t.Errorf("Spend: %v", err)
			}
			if left < 0 {
				t.Errorf("balance %d", left)
			}
			if ok {
				spent.Add(1)
			}
		})
		is.Equal(spent.Load(), int64(100))
		left, _, err := b.Spend(ctx, key, 0, cr, t0)
		is.NoErr(err)
		is.Equal(left, int64(0))
	})
}

// BenchCounters measures what a request with one rate limit and credits
// costs: one Limit and one Spend on the same key, over and over (the limit
// and the balance are high enough never to refuse), serially and from
// parallel callers.
func BenchCounters(b *testing.B, c authkit.Counters) {
	key := "bench-" + id()
	cr := authkit.Credits{Initial: 1 << 50}
	step := func() {
		now := time.Now()
		if q, err := c.Limit(ctx, key, 1, 1<<50, time.Hour, now); err != nil || !q.Allowed {
			b.Fatal("Limit", err)
		}
		if _, ok, err := c.Spend(ctx, key, 1, cr, now); err != nil || !ok {
			b.Fatal("Spend", err)
		}
	}
	b.Run("limit+spend", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			step()
		}
	})
	b.Run("limit+spend-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				step()
			}
		})
	})
}
