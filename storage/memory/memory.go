// Package memory is an in-memory authkit.Store: for tests, examples and
// single-process apps that can lose their keys on restart. It passes the
// storage/storagetest conformance suite like every backend.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/authkit/authkit"
)

// Store keeps everything in maps behind one lock. The zero value is not
// ready: use New. It is safe for concurrent use.
type Store struct {
	authkit.Broadcaster

	mu          sync.RWMutex
	keys        map[string]*authkit.Key       // by ID
	secrets     map[string]*authkit.KeySecret // by string(hash)
	handles     map[[2]string]string          // (owner, handle) of live keys → key ID
	sessions    map[string]*authkit.Session   // by ID
	logins      map[[3]string]string          // (owner, key ID, name) of unrevoked login sessions → session ID
	refresh     map[string]*authkit.RefreshToken
	signingKeys map[string]*authkit.SigningKey
	usage       map[usageKey]int64
	audit       []authkit.AuditEvent // in ID order
	hashKeys    map[string][]byte    // sealed, by name
}

var _ authkit.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		keys: map[string]*authkit.Key{}, secrets: map[string]*authkit.KeySecret{}, handles: map[[2]string]string{},
		sessions: map[string]*authkit.Session{}, logins: map[[3]string]string{},
		refresh: map[string]*authkit.RefreshToken{}, signingKeys: map[string]*authkit.SigningKey{},
		hashKeys: map[string][]byte{},
	}
}

func cloneKey(k *authkit.Key) *authkit.Key {
	c := *k
	c.Scopes = slices.Clone(k.Scopes)
	c.Policy = k.Policy.Clone()
	return &c
}

func cloneSecret(s *authkit.KeySecret) *authkit.KeySecret {
	c := *s
	c.Hash = slices.Clone(s.Hash)
	c.Sealed = slices.Clone(s.Sealed)
	return &c
}

func cloneSession(s *authkit.Session) *authkit.Session {
	c := *s
	c.Scopes = slices.Clone(s.Scopes)
	c.TokenSealed = slices.Clone(s.TokenSealed)
	return &c
}

func cloneRefresh(t *authkit.RefreshToken) *authkit.RefreshToken {
	c := *t
	c.Hash = slices.Clone(t.Hash)
	c.ChildSealed = slices.Clone(t.ChildSealed)
	return &c
}

func cloneSigning(k *authkit.SigningKey) *authkit.SigningKey {
	c := *k
	c.Sealed = slices.Clone(k.Sealed)
	c.Public = slices.Clone(k.Public)
	return &c
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func normKey(k *authkit.Key) {
	k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt = utc(k.CreatedAt), utc(k.ExpiresAt), utc(k.LastUsedAt), utc(k.RevokedAt)
}

func normSession(s *authkit.Session) {
	s.CreatedAt, s.ExpiresAt, s.RevokedAt, s.TokenExpiresAt = utc(s.CreatedAt), utc(s.ExpiresAt), utc(s.RevokedAt), utc(s.TokenExpiresAt)
}

// CreateKey implements authkit.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k *authkit.Key, sec *authkit.KeySecret) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("memory: key %s: %w", k.ID, authkit.ErrConflict)
	}
	if _, ok := s.handles[[2]string{k.Owner, k.Handle}]; ok && k.RevokedAt.IsZero() {
		return fmt.Errorf("memory: handle %q: %w", k.Handle, authkit.ErrConflict)
	}
	if _, ok := s.secrets[string(sec.Hash)]; ok {
		return fmt.Errorf("memory: key secret: %w", authkit.ErrConflict)
	}
	kc := cloneKey(k)
	normKey(kc)
	sc := cloneSecret(sec)
	sc.KeyID = k.ID
	sc.CreatedAt, sc.ExpiresAt = utc(sc.CreatedAt), utc(sc.ExpiresAt)
	s.keys[k.ID] = kc
	s.secrets[string(sec.Hash)] = sc
	if kc.RevokedAt.IsZero() {
		s.handles[[2]string{k.Owner, k.Handle}] = k.ID
	}
	return nil
}

// KeyBySecret implements authkit.KeyStore.
func (s *Store) KeyBySecret(ctx context.Context, hash []byte) (*authkit.Key, *authkit.KeySecret, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sec, ok := s.secrets[string(hash)]
	if !ok {
		return nil, nil, fmt.Errorf("memory: key secret: %w", authkit.ErrNotFound)
	}
	k, ok := s.keys[sec.KeyID]
	if !ok {
		return nil, nil, fmt.Errorf("memory: key: %w", authkit.ErrNotFound)
	}
	return cloneKey(k), cloneSecret(sec), nil
}

// KeyByID implements authkit.KeyStore.
func (s *Store) KeyByID(ctx context.Context, id string) (*authkit.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, fmt.Errorf("memory: key %s: %w", id, authkit.ErrNotFound)
	}
	return cloneKey(k), nil
}

func (s *Store) liveKey(owner, id string) (*authkit.Key, error) {
	k, ok := s.keys[id]
	if !ok || k.Owner != owner || !k.RevokedAt.IsZero() {
		return nil, fmt.Errorf("memory: key %s: %w", id, authkit.ErrNotFound)
	}
	return k, nil
}

// Key implements authkit.KeyStore.
func (s *Store) Key(ctx context.Context, owner, id string) (*authkit.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.liveKey(owner, id)
	if err != nil {
		return nil, err
	}
	return cloneKey(k), nil
}

// KeyByHandle implements authkit.KeyStore.
func (s *Store) KeyByHandle(ctx context.Context, owner, handle string) (*authkit.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.handles[[2]string{owner, handle}]
	if !ok {
		return nil, fmt.Errorf("memory: key %q: %w", handle, authkit.ErrNotFound)
	}
	return cloneKey(s.keys[id]), nil
}

// ListKeys implements authkit.KeyStore.
func (s *Store) ListKeys(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Key, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return page(s.keys, p, func(k *authkit.Key) (string, bool) {
		return k.ID, k.Owner == owner && k.RevokedAt.IsZero()
	}, cloneKey), nil
}

// CurrentKeySecret implements authkit.KeyStore.
func (s *Store) CurrentKeySecret(ctx context.Context, owner, id string) (*authkit.KeySecret, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.liveKey(owner, id); err != nil {
		return nil, err
	}
	for _, sec := range s.secrets {
		if sec.KeyID == id && sec.ExpiresAt.IsZero() {
			return cloneSecret(sec), nil
		}
	}
	return nil, fmt.Errorf("memory: current secret of %s: %w", id, authkit.ErrNotFound)
}

// RotateKey implements authkit.KeyStore.
func (s *Store) RotateKey(ctx context.Context, owner, id string, next *authkit.KeySecret, hint string, graceUntil time.Time) error {
	if err := s.rotateKey(owner, id, next, hint, graceUntil); err != nil {
		return err
	}
	s.Publish(authkit.Revocation{Kind: authkit.ChangedKey, ID: id})
	return nil
}

func (s *Store) rotateKey(owner, id string, next *authkit.KeySecret, hint string, graceUntil time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.liveKey(owner, id)
	if err != nil {
		return err
	}
	if _, ok := s.secrets[string(next.Hash)]; ok {
		return fmt.Errorf("memory: key secret: %w", authkit.ErrConflict)
	}
	grace := utc(graceUntil)
	for _, sec := range s.secrets {
		if sec.KeyID == id && (sec.ExpiresAt.IsZero() || sec.ExpiresAt.After(grace)) {
			sec.ExpiresAt = grace
		}
	}
	nc := cloneSecret(next)
	nc.KeyID = id
	nc.CreatedAt, nc.ExpiresAt = utc(nc.CreatedAt), time.Time{}
	s.secrets[string(next.Hash)] = nc
	k.Hint = hint
	return nil
}

// RevokeKey implements authkit.KeyStore.
func (s *Store) RevokeKey(ctx context.Context, owner, id string, at time.Time) error {
	s.mu.Lock()
	k, err := s.liveKey(owner, id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	k.RevokedAt = utc(at)
	delete(s.handles, [2]string{owner, k.Handle})
	s.mu.Unlock()
	s.Publish(authkit.Revocation{Kind: authkit.RevokedKey, ID: id})
	return nil
}

// UpdateKey implements authkit.KeyStore.
func (s *Store) UpdateKey(ctx context.Context, u *authkit.Key) error {
	s.mu.Lock()
	k, err := s.liveKey(u.Owner, u.ID)
	if err == nil {
		k.Alias, k.Disabled, k.Policy = u.Alias, u.Disabled, u.Policy.Clone()
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.Publish(authkit.Revocation{Kind: authkit.ChangedKey, ID: u.ID})
	return nil
}

// TouchKeys implements authkit.KeyStore.
func (s *Store) TouchKeys(ctx context.Context, uses map[string]time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range uses {
		if k, ok := s.keys[id]; ok && at.After(k.LastUsedAt) {
			k.LastUsedAt = utc(at)
		}
	}
	return nil
}

// CreateSession implements authkit.SessionStore.
func (s *Store) CreateSession(ctx context.Context, sess *authkit.Session, first *authkit.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess.ID]; ok {
		return fmt.Errorf("memory: session %s: %w", sess.ID, authkit.ErrConflict)
	}
	login := sess.Kind == authkit.SessionLogin && sess.RevokedAt.IsZero()
	lk := [3]string{sess.Owner, sess.KeyID, sess.Name}
	if _, ok := s.logins[lk]; ok && login {
		return fmt.Errorf("memory: login session: %w", authkit.ErrConflict)
	}
	if first != nil {
		if err := s.createRefresh(first); err != nil {
			return err
		}
	}
	c := cloneSession(sess)
	normSession(c)
	s.sessions[sess.ID] = c
	if login {
		s.logins[lk] = sess.ID
	}
	return nil
}

// Session implements authkit.SessionStore.
func (s *Store) Session(ctx context.Context, id string) (*authkit.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sess, ok := s.sessions[id]
	if !ok {
		return nil, fmt.Errorf("memory: session %s: %w", id, authkit.ErrNotFound)
	}
	return cloneSession(sess), nil
}

// LoginSession implements authkit.SessionStore.
func (s *Store) LoginSession(ctx context.Context, owner, keyID, name string) (*authkit.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.logins[[3]string{owner, keyID, name}]
	if !ok {
		return nil, fmt.Errorf("memory: login session: %w", authkit.ErrNotFound)
	}
	return cloneSession(s.sessions[id]), nil
}

// ReplaceSessionToken implements authkit.SessionStore.
func (s *Store) ReplaceSessionToken(ctx context.Context, id, prevTokenID string, sealed []byte, tokenID string, tokenExpiresAt, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok || !sess.RevokedAt.IsZero() {
		return fmt.Errorf("memory: session %s: %w", id, authkit.ErrNotFound)
	}
	if sess.TokenID != prevTokenID {
		return fmt.Errorf("memory: session %s token replaced meanwhile: %w", id, authkit.ErrConflict)
	}
	sess.TokenSealed, sess.TokenID = slices.Clone(sealed), tokenID
	sess.TokenExpiresAt, sess.ExpiresAt = utc(tokenExpiresAt), utc(expiresAt)
	return nil
}

// ListSessions implements authkit.SessionStore.
func (s *Store) ListSessions(ctx context.Context, owner string, p authkit.Page) ([]*authkit.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return page(s.sessions, p, func(x *authkit.Session) (string, bool) {
		return x.ID, x.Owner == owner && x.RevokedAt.IsZero()
	}, cloneSession), nil
}

// RevokeSession implements authkit.SessionStore.
func (s *Store) RevokeSession(ctx context.Context, owner, id string, at time.Time) error {
	s.mu.Lock()
	sess, ok := s.sessions[id]
	if !ok || sess.Owner != owner {
		s.mu.Unlock()
		return fmt.Errorf("memory: session %s: %w", id, authkit.ErrNotFound)
	}
	if sess.RevokedAt.IsZero() {
		s.endLocked(sess, at)
	}
	s.mu.Unlock()
	s.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
	return nil
}

// EndOldestSessions implements authkit.SessionStore, scanning every
// session: the memory store is for tests and small apps.
func (s *Store) EndOldestSessions(ctx context.Context, keyID string, max, keep int, at time.Time) (int, error) {
	s.mu.Lock()
	var live []*authkit.Session
	for _, sess := range s.sessions {
		if sess.KeyID == keyID && sess.RevokedAt.IsZero() {
			live = append(live, sess)
		}
	}
	var ended []string
	if len(live) > max {
		slices.SortFunc(live, func(a, b *authkit.Session) int { return strings.Compare(a.ID, b.ID) })
		for _, sess := range live[:len(live)-keep] {
			s.endLocked(sess, at)
			ended = append(ended, sess.ID)
		}
	}
	s.mu.Unlock()
	for _, id := range ended {
		s.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
	}
	return len(live) - len(ended), nil
}

// endLocked revokes sess at at, freeing its login name. s.mu is held.
func (s *Store) endLocked(sess *authkit.Session, at time.Time) {
	sess.RevokedAt = utc(at)
	if s.logins[[3]string{sess.Owner, sess.KeyID, sess.Name}] == sess.ID {
		delete(s.logins, [3]string{sess.Owner, sess.KeyID, sess.Name})
	}
}

// EndKeySessions implements authkit.SessionStore.
func (s *Store) EndKeySessions(ctx context.Context, keyID string, upTo, at time.Time) (int, error) {
	revoke := !at.After(upTo)
	s.mu.Lock()
	var ended []string
	n := 0
	for _, sess := range s.sessions {
		if sess.KeyID != keyID || !sess.RevokedAt.IsZero() || sess.CreatedAt.After(upTo) {
			continue
		}
		changed := false
		if sess.ExpiresAt.After(at) {
			sess.ExpiresAt, changed = utc(at), true
		}
		if revoke {
			s.endLocked(sess, at)
			changed = true
			ended = append(ended, sess.ID)
		}
		if changed {
			n++
		}
	}
	s.mu.Unlock()
	for _, id := range ended {
		s.Publish(authkit.Revocation{Kind: authkit.RevokedSession, ID: id})
	}
	return n, nil
}

func (s *Store) createRefresh(t *authkit.RefreshToken) error {
	if _, ok := s.refresh[string(t.Hash)]; ok {
		return fmt.Errorf("memory: refresh token: %w", authkit.ErrConflict)
	}
	c := cloneRefresh(t)
	c.CreatedAt, c.ExpiresAt, c.SpentAt = utc(c.CreatedAt), utc(c.ExpiresAt), utc(c.SpentAt)
	s.refresh[string(t.Hash)] = c
	return nil
}

// RefreshToken implements authkit.RefreshStore.
func (s *Store) RefreshToken(ctx context.Context, hash []byte) (*authkit.RefreshToken, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.refresh[string(hash)]
	if !ok {
		return nil, fmt.Errorf("memory: refresh token: %w", authkit.ErrNotFound)
	}
	return cloneRefresh(t), nil
}

// SpendRefreshToken implements authkit.RefreshStore.
func (s *Store) SpendRefreshToken(ctx context.Context, hash []byte, at time.Time, childSealed []byte, child *authkit.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refresh[string(hash)]
	if !ok {
		return fmt.Errorf("memory: refresh token: %w", authkit.ErrNotFound)
	}
	if !t.SpentAt.IsZero() {
		return fmt.Errorf("memory: refresh token spent already: %w", authkit.ErrConflict)
	}
	if child != nil {
		if err := s.createRefresh(child); err != nil {
			return err
		}
	}
	t.SpentAt, t.ChildSealed = utc(at), slices.Clone(childSealed)
	return nil
}

// CreateSigningKey implements authkit.SigningKeyStore.
func (s *Store) CreateSigningKey(ctx context.Context, k *authkit.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.signingKeys[k.ID]; ok {
		return fmt.Errorf("memory: signing key %s: %w", k.ID, authkit.ErrConflict)
	}
	c := cloneSigning(k)
	c.CreatedAt, c.RetiredAt, c.ExpiresAt = utc(c.CreatedAt), utc(c.RetiredAt), utc(c.ExpiresAt)
	s.signingKeys[k.ID] = c
	return nil
}

// SigningKeys implements authkit.SigningKeyStore.
func (s *Store) SigningKeys(ctx context.Context) ([]*authkit.SigningKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*authkit.SigningKey, 0, len(s.signingKeys))
	for _, k := range s.signingKeys {
		out = append(out, cloneSigning(k))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// RetireSigningKey implements authkit.SigningKeyStore.
func (s *Store) RetireSigningKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.signingKeys[id]
	if !ok {
		return fmt.Errorf("memory: signing key %s: %w", id, authkit.ErrNotFound)
	}
	k.RetiredAt, k.ExpiresAt = utc(retiredAt), utc(expiresAt)
	return nil
}

// RevokeSigningKey implements authkit.SigningKeyStore.
func (s *Store) RevokeSigningKey(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	k, ok := s.signingKeys[id]
	if ok {
		if k.RetiredAt.IsZero() {
			k.RetiredAt = utc(at)
		}
		k.ExpiresAt = utc(at)
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("memory: signing key %s: %w", id, authkit.ErrNotFound)
	}
	s.Publish(authkit.Revocation{Kind: authkit.RevokedSigningKey, ID: id})
	return nil
}

// Cleanup implements authkit.Store.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.refresh {
		if t.ChildSealed != nil && !t.SpentAt.IsZero() && !t.SpentAt.After(now.Add(-authkit.MaxRefreshGrace)) {
			t.ChildSealed = nil
		}
	}
	n := 0
	for h, sec := range s.secrets {
		if !sec.ExpiresAt.IsZero() && !now.Before(sec.ExpiresAt) {
			delete(s.secrets, h)
			n++
		}
	}
	dead := map[string]bool{}
	for id, sess := range s.sessions {
		if !now.Before(sess.ExpiresAt) {
			dead[id] = true
			delete(s.sessions, id)
			if s.logins[[3]string{sess.Owner, sess.KeyID, sess.Name}] == id {
				delete(s.logins, [3]string{sess.Owner, sess.KeyID, sess.Name})
			}
			n++
		}
	}
	for h, t := range s.refresh {
		if !now.Before(t.ExpiresAt) || dead[t.SessionID] {
			delete(s.refresh, h)
			n++
		}
	}
	for id, k := range s.signingKeys {
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			delete(s.signingKeys, id)
			n++
		}
	}
	return n, nil
}

// Close implements authkit.Store; it does nothing.
func (s *Store) Close() error { return nil }

// page returns, as clones, the records of m that match, with IDs after
// p.After, in ID order, at most p.Size() of them.
func page[T any](m map[string]*T, p authkit.Page, match func(*T) (id string, ok bool), clone func(*T) *T) []*T {
	type rec struct {
		id string
		x  *T
	}
	var found []rec
	for _, x := range m {
		if id, ok := match(x); ok && id > p.After {
			found = append(found, rec{id, x})
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].id < found[j].id })
	found = found[:min(len(found), p.Size())]
	out := make([]*T, len(found))
	for i, r := range found {
		out[i] = clone(r.x)
	}
	return out
}
