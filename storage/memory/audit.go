package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authkit/authkit"
)

// AppendAudit implements authkit.AuditStore. The trail is kept in ID order,
// so finding a duplicate and the place of each event is a binary search:
// appending stays cheap however long the trail grows.
func (s *Store) AppendAudit(ctx context.Context, events []authkit.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range events {
		_, found := slices.BinarySearchFunc(s.audit, e.ID, compareAuditID)
		if found || slices.ContainsFunc(events[:i], func(x authkit.AuditEvent) bool { return x.ID == e.ID }) {
			return fmt.Errorf("memory: audit event %s: %w", e.ID, authkit.ErrConflict)
		}
	}
	for _, e := range events {
		e.At = utc(e.At)
		i, _ := slices.BinarySearchFunc(s.audit, e.ID, compareAuditID)
		s.audit = slices.Insert(s.audit, i, e)
	}
	return nil
}

func compareAuditID(x authkit.AuditEvent, id string) int { return strings.Compare(x.ID, id) }

// AuditLog implements authkit.AuditStore.
func (s *Store) AuditLog(ctx context.Context, owner string, p authkit.Page) ([]authkit.AuditEvent, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []authkit.AuditEvent{}
	for _, e := range s.audit {
		if e.Owner == owner && e.ID > p.After {
			out = append(out, e)
			if len(out) == p.Size() {
				break
			}
		}
	}
	return out, nil
}

// DeleteAudit implements authkit.AuditStore.
func (s *Store) DeleteAudit(ctx context.Context, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.audit)
	s.audit = slices.DeleteFunc(s.audit, func(e authkit.AuditEvent) bool { return e.At.Before(before) })
	return n - len(s.audit), nil
}
