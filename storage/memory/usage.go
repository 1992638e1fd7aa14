package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/authkit/authkit"
)

type usageKey struct {
	keyID   string
	start   int64 // Unix seconds
	outcome authkit.Outcome
}

// AddUsage implements authkit.UsageStore.
func (s *Store) AddUsage(ctx context.Context, counts []authkit.UsageCount) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.usage == nil {
		s.usage = map[usageKey]int64{}
	}
	for _, c := range counts {
		s.usage[usageKey{c.KeyID, c.Start.Unix(), c.Outcome}] += c.Count
	}
	return nil
}

// Usage implements authkit.UsageStore.
func (s *Store) Usage(ctx context.Context, keyID string, from, to time.Time) ([]authkit.UsageCount, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []authkit.UsageCount
	for k, n := range s.usage {
		if k.keyID == keyID && k.start >= from.Unix() && k.start < to.Unix() {
			out = append(out, authkit.UsageCount{KeyID: keyID, Start: time.Unix(k.start, 0).UTC(), Outcome: k.outcome, Count: n})
		}
	}
	slices.SortFunc(out, func(a, b authkit.UsageCount) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Outcome, b.Outcome))
	})
	return out, nil
}

// DeleteUsage implements authkit.UsageStore.
func (s *Store) DeleteUsage(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.usage {
		if k.start < before.Unix() {
			delete(s.usage, k)
			n++
		}
	}
	return n, nil
}
