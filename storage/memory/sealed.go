package memory

import (
	"context"
	"crypto/subtle"
	"fmt"
	"slices"

	"github.com/authkit/authkit"
)

// HashKey implements authkit.SealedStore.
func (s *Store) HashKey(ctx context.Context, name string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.hashKeys[name]
	if !ok {
		return nil, fmt.Errorf("memory: hash key: %w", authkit.ErrNotFound)
	}
	return slices.Clone(k), nil
}

// CreateHashKey implements authkit.SealedStore.
func (s *Store) CreateHashKey(ctx context.Context, name string, sealed []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.hashKeys[name]; ok {
		return fmt.Errorf("memory: hash key: %w", authkit.ErrConflict)
	}
	s.hashKeys[name] = slices.Clone(sealed)
	return nil
}

// sealedRef finds a sealed value again: its kind and the key of its map.
type sealedRef struct {
	v   authkit.SealedValue
	key string
}

// Reseal implements authkit.SealedStore: it copies every sealed value under
// the read lock, calls fn on each without it, and writes back what fn
// returns where the value is still the one fn saw.
func (s *Store) Reseal(ctx context.Context, fn func(authkit.SealedValue) ([]byte, error)) (replaced int, err error) {
	s.mu.RLock()
	var refs []sealedRef
	add := func(kind authkit.SealedKind, key string, aad, sealed []byte) {
		if len(sealed) > 0 {
			refs = append(refs, sealedRef{authkit.SealedValue{Kind: kind, AAD: slices.Clone(aad), Sealed: slices.Clone(sealed)}, key})
		}
	}
	for h, x := range s.secrets {
		add(authkit.SealedKeySecret, h, []byte(x.KeyID), x.Sealed)
	}
	for id, x := range s.sessions {
		add(authkit.SealedSessionToken, id, []byte(id), x.TokenSealed)
	}
	for h, x := range s.refresh {
		add(authkit.SealedRefreshPair, h, []byte(h), x.ChildSealed)
	}
	for id, x := range s.signingKeys {
		add(authkit.SealedSigningKey, id, []byte(id), x.Sealed)
	}
	for name, x := range s.hashKeys {
		add(authkit.SealedHashKey, name, []byte(name), x)
	}
	s.mu.RUnlock()

	for _, r := range refs {
		if err := ctx.Err(); err != nil {
			return replaced, err
		}
		next, err := fn(r.v)
		if err != nil {
			return replaced, err
		}
		if next != nil && s.replaceSealed(r, next) {
			replaced++
		}
	}
	return replaced, nil
}

// replaceSealed puts next in the place of r's value, if that is still
// r's, and says whether it did.
func (s *Store) replaceSealed(r sealedRef, next []byte) (done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	swap := func(p *[]byte) {
		if subtle.ConstantTimeCompare(*p, r.v.Sealed) == 1 {
			*p = slices.Clone(next)
			done = true
		}
	}
	switch r.v.Kind {
	case authkit.SealedKeySecret:
		if x, ok := s.secrets[r.key]; ok {
			swap(&x.Sealed)
		}
	case authkit.SealedSessionToken:
		if x, ok := s.sessions[r.key]; ok {
			swap(&x.TokenSealed)
		}
	case authkit.SealedRefreshPair:
		if x, ok := s.refresh[r.key]; ok {
			swap(&x.ChildSealed)
		}
	case authkit.SealedSigningKey:
		if x, ok := s.signingKeys[r.key]; ok {
			swap(&x.Sealed)
		}
	case authkit.SealedHashKey:
		if x, ok := s.hashKeys[r.key]; ok {
			swap(&x)
			s.hashKeys[r.key] = x
		}
	}
	return done
}
