package seal

import (
	"context"
	"errors"

	"github.com/authkit/authkit"
)

// Count returns how many of store's sealed values each secret sealed, by
// the secret's ID ("" for values sealed before secrets were recorded in
// them).
func Count(ctx context.Context, store authkit.SealedStore) (map[string]int, error) {
	n := map[string]int{}
	_, err := store.Reseal(ctx, func(v authkit.SealedValue) ([]byte, error) {
		n[SecretID(v.Sealed)]++
		return nil, nil
	})
	return n, err
}

// Rewrap seals again under the current secret of secret's keyring every
// value of store that another secret sealed. It returns how many it moved,
// and how many it could not open: values sealed under a secret the keyring
// does not hold (or damaged), which still need that secret.
func Rewrap(ctx context.Context, store authkit.SealedStore, secret *authkit.Secret) (moved, stuck int, err error) {
	sealers := map[string]*Sealer{}
	moved, err = store.Reseal(ctx, func(v authkit.SealedValue) ([]byte, error) {
		p := purposeOf(v.Kind)
		if p == "" {
			stuck++
			return nil, nil
		}
		s := sealers[p]
		if s == nil {
			s = NewSealer(secret, p)
			sealers[p] = s
		}
		next, err := s.Reseal(v.Sealed, v.AAD)
		if errors.Is(err, ErrOpen) {
			stuck++
			return nil, nil
		}
		return next, err
	})
	return moved, stuck, err
}
