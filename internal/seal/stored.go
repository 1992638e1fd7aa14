package seal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/authkit/authkit"
)

// The names of the hash keys (authkit.SealedStore.HashKey).
const (
	HashKeyKeys    = "authkit/keys/hash"             // of application keys' secrets
	HashKeyRefresh = "authkit/sessions/refresh-hash" // of refresh tokens
)

// CheckHashKeys reads (or makes) every hash key of store under secret: an
// error says the secret opens none of them (a server started with another
// secret than the store's), or that the store failed.
func CheckHashKeys(ctx context.Context, store authkit.SealedStore, secret *authkit.Secret) error {
	for _, name := range []string{HashKeyKeys, HashKeyRefresh} {
		if _, err := NewStoredHasher(store, secret, name).Get(ctx); err != nil {
			return err
		}
	}
	return nil
}

// The purposes of the sealers, one per kind of sealed value.
const (
	PurposeKeys     = "authkit/keys/seal"          // recoverable keys' secrets
	PurposeSessions = "authkit/sessions/seal"      // login session tokens, refresh pairs
	PurposeTokens   = "authkit/tokens/signing-key" // signing keys
	PurposeHashKeys = "authkit/hash-keys"          // the keys of the keyed hashes
)

// purposeOf is the purpose under which a kind of value is sealed.
func purposeOf(k authkit.SealedKind) string {
	switch k {
	case authkit.SealedKeySecret:
		return PurposeKeys
	case authkit.SealedSessionToken, authkit.SealedRefreshPair:
		return PurposeSessions
	case authkit.SealedSigningKey:
		return PurposeTokens
	case authkit.SealedHashKey:
		return PurposeHashKeys
	}
	return ""
}

// StoredHasher is a Hasher whose key is kept in the store, sealed under the
// server secret (authkit.SealedStore.HashKey), and read on first use. The
// key is made once, on the first use by any process, from the oldest secret
// of the keyring (on a store that predates stored hash keys, that is the
// secret its hashes were made with), and never changes after: a new server
// secret only seals it anew, so no hash ever has to be made again.
type StoredHasher struct {
	store  authkit.SealedStore
	secret *authkit.Secret
	name   string
	h      atomic.Pointer[Hasher]
	mu     sync.Mutex // one load at a time
}

// NewStoredHasher returns a StoredHasher for the hash key named name. With
// a nil store, the key is derived from the oldest secret and kept nowhere.
func NewStoredHasher(store authkit.SealedStore, secret *authkit.Secret, name string) *StoredHasher {
	return &StoredHasher{store: store, secret: secret, name: name}
}

// Loaded returns the Hasher if its key has been read, else nil.
func (s *StoredHasher) Loaded() *Hasher { return s.h.Load() }

// Get returns the Hasher, reading its key from the store (or making it)
// the first time. The error is the store's, or says that the key was sealed
// under a secret the keyring does not hold.
func (s *StoredHasher) Get(ctx context.Context) (*Hasher, error) {
	if h := s.h.Load(); h != nil {
		return h, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.h.Load(); h != nil {
		return h, nil
	}
	key, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	h := NewHasher(key)
	clear(key)
	s.h.Store(h)
	return h, nil
}

func (s *StoredHasher) load(ctx context.Context) ([]byte, error) {
	if s.store == nil {
		all := s.secret.DeriveAll(s.name)
		return all[len(all)-1].Key, nil
	}
	sealer := NewSealer(s.secret, PurposeHashKeys)
	for range 2 {
		sealed, err := s.store.HashKey(ctx, s.name)
		if err == nil {
			key, err := sealer.Open(sealed, []byte(s.name))
			if err != nil {
				return nil, fmt.Errorf("hash key %s is sealed under a server secret this keyring (%v) does not hold", s.name, s.secret.IDs())
			}
			return key, nil
		}
		if !errors.Is(err, authkit.ErrNotFound) {
			return nil, fmt.Errorf("hash key %s: %w", s.name, err)
		}
		all := s.secret.DeriveAll(s.name)
		key := all[len(all)-1].Key // the oldest secret's
		err = s.store.CreateHashKey(ctx, s.name, sealer.Seal(key, []byte(s.name)))
		if err == nil {
			return key, nil
		}
		if !errors.Is(err, authkit.ErrConflict) {
			return nil, fmt.Errorf("hash key %s: %w", s.name, err)
		}
		// Another process made it first: read theirs.
	}
	return nil, fmt.Errorf("hash key %s: made and gone again", s.name)
}
