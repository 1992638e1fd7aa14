package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/storage/memory"
	"github.com/authkit/authkit/storage/storagetest"
)

func newStore(t *testing.T) authkit.Store { return memory.New() }

func TestConformance(t *testing.T) { storagetest.Run(t, newStore) }

func TestConcurrency(t *testing.T) { storagetest.RunConcurrency(t, newStore) }

func TestCounters(t *testing.T) {
	storagetest.RunCounters(t, func(t *testing.T) (authkit.Counters, authkit.Counters) {
		c := &memory.Counters{}
		return c, c
	})
}

// BenchmarkCounters: go test -run '^$' -bench Counters -benchmem ./storage/memory
func BenchmarkCounters(b *testing.B) { storagetest.BenchCounters(b, &memory.Counters{}) }

// TestAppendAudit_LinearInTheTrail appends 100,000 events one at a time, as
// the key service does for each key it creates, well within a few seconds:
// finding a duplicate ID must not scan the whole trail at every append (that
// made creating 80,000 keys take 100 s).
func TestAppendAudit_LinearInTheTrail(t *testing.T) {
	is := is.New(t)
	const n, budget = 100_000, 10 * time.Second
	ctx := context.Background()
	s := memory.New()
	start := time.Now()
	for i := range n {
		e := authkit.AuditEvent{ID: fmt.Sprintf("%08d", i), Owner: "alice", Action: authkit.AuditKeyCreated}
		is.NoErr(s.AppendAudit(ctx, []authkit.AuditEvent{e}))
		if i%1000 == 0 && time.Since(start) > budget {
			t.Fatalf("%d appends took %v: quadratic in the trail", i, time.Since(start))
		}
	}
	t.Logf("%d appends in %v", n, time.Since(start))
	err := s.AppendAudit(ctx, []authkit.AuditEvent{{ID: fmt.Sprintf("%08d", n/2), Owner: "alice"}})
	is.True(errors.Is(err, authkit.ErrConflict)) // still append-only
}
