package memory

import (
	"context"
	"time"

	"github.com/authkit/authkit"
)

// RevokedSince implements authkit.Store.
func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]authkit.Revocation, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []authkit.Revocation
	for id, k := range s.keys {
		switch {
		case !k.RevokedAt.IsZero() && !k.RevokedAt.Before(since):
			out = append(out, authkit.Revocation{Kind: authkit.RevokedKey, ID: id})
		case k.RevokedAt.IsZero() && k.Disabled:
			out = append(out, authkit.Revocation{Kind: authkit.ChangedKey, ID: id})
		}
	}
	for id, x := range s.sessions {
		if !x.RevokedAt.IsZero() && !x.RevokedAt.Before(since) {
			out = append(out, authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
		}
	}
	return out, nil
}
