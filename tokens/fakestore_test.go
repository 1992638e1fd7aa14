package tokens_test

// A stand-in store until storage/memory lands. Temporary.

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/authkit/authkit"
)

type fakeStore struct {
	authkit.Store // unimplemented methods panic
	authkit.Broadcaster
	mu       sync.Mutex
	keys     map[string]*authkit.Key
	sessions map[string]*authkit.Session
	signing  []*authkit.SigningKey
}

func newFakeStore() *fakeStore {
	return &fakeStore{keys: map[string]*authkit.Key{}, sessions: map[string]*authkit.Session{}}
}

func (f *fakeStore) Subscribe(fn func(authkit.Revocation)) func() { return f.Broadcaster.Subscribe(fn) }

func (f *fakeStore) CreateKey(ctx context.Context, k *authkit.Key, s *authkit.KeySecret) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *k
	f.keys[k.ID] = &c
	return nil
}

func (f *fakeStore) KeyByID(ctx context.Context, id string) (*authkit.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[id]
	if !ok {
		return nil, authkit.ErrNotFound
	}
	c := *k
	return &c, nil
}

func (f *fakeStore) RevokeKey(ctx context.Context, owner, id string, at time.Time) error {
	f.mu.Lock()
	k, ok := f.keys[id]
	if !ok || k.Owner != owner {
		f.mu.Unlock()
		return authkit.ErrNotFound
	}
	k.RevokedAt = at
	f.mu.Unlock()
	f.Publish(authkit.Revocation{Kind: authkit.RevokedKey, ID: id})
	return nil
}

func (f *fakeStore) CreateSession(ctx context.Context, s *authkit.Session) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *s
	f.sessions[s.ID] = &c
	return nil
}

func (f *fakeStore) Session(ctx context.Context, id string) (*authkit.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return nil, authkit.ErrNotFound
	}
	c := *s
	return &c, nil
}

func (f *fakeStore) RevokeSession(ctx context.Context, owner, id string, at time.Time) error {
	f.mu.Lock()
	s, ok := f.sessions[id]
	if !ok || s.Owner != owner {
		f.mu.Unlock()
		return authkit.ErrNotFound
	}
	s.RevokedAt = at
	f.mu.Unlock()
	f.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
	return nil
}

func (f *fakeStore) CreateSigningKey(ctx context.Context, k *authkit.SigningKey) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := *k
	f.signing = append(f.signing, &c)
	return nil
}

func (f *fakeStore) SigningKeys(ctx context.Context) ([]*authkit.SigningKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*authkit.SigningKey
	for _, k := range f.signing {
		c := *k
		out = append(out, &c)
	}
	return out, nil
}

func (f *fakeStore) RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.signing, func(k *authkit.SigningKey) bool { return k.ID == id })
	if i < 0 {
		return authkit.ErrNotFound
	}
	f.signing[i].RetiredAt, f.signing[i].ExpiresAt = retiredAt, expiresAt
	return nil
}

func (f *fakeStore) Close() error { return nil }
