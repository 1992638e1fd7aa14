// Package seal holds the two primitives authkit builds on, both from the
// standard library: a keyed hash (HMAC-SHA-256) for secrets that are only
// ever compared, and authenticated encryption (AES-256-GCM under a key of
// its own per value, derived with HKDF) for secrets that must be given
// back. Keys come from the server secret's keyring (authkit.Secret).
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"sync"

	"github.com/authkit/authkit"
)

// ErrOpen is returned when a sealed value fails authentication.
var ErrOpen = errors.New("seal: message authentication failed")

// Hasher computes HMAC-SHA-256 under one key. It is safe for concurrent use
// and allocation-free in steady state.
type Hasher struct {
	pool sync.Pool
}

// NewHasher returns a Hasher keyed with key.
func NewHasher(key []byte) *Hasher {
	k := append([]byte(nil), key...)
	h := &Hasher{}
	h.pool.New = func() any { return &mac{h: hmac.New(sha256.New, k)} }
	return h
}

type mac struct {
	h   hash.Hash
	buf []byte // the message
	sum []byte // the MAC, before it is copied out
}

// Sum returns HMAC-SHA-256(key, msg).
func (h *Hasher) Sum(msg string) []byte {
	var out [sha256.Size]byte
	h.SumInto(&out, msg)
	return out[:]
}

// SumInto writes HMAC-SHA-256(key, msg) into out.
func (h *Hasher) SumInto(out *[sha256.Size]byte, msg string) {
	m := h.pool.Get().(*mac)
	m.h.Reset()
	m.buf = append(m.buf[:0], msg...) // a pooled buffer: no allocation per call
	m.h.Write(m.buf)
	// Sum into the pooled buffer, not into out: out may then stay on its
	// caller's stack (a slice of it passed to the hash.Hash would escape).
	m.sum = m.h.Sum(m.sum[:0])
	copy(out[:], m.sum)
	clear(m.buf) // do not leave the secret lying in the pool
	clear(m.sum)
	h.pool.Put(m)
}

// Equal compares two MACs in constant time.
func Equal(a, b []byte) bool { return hmac.Equal(a, b) }

// Sealer seals under the current secret of a keyring and opens what any
// secret of it sealed. It is safe for concurrent use.
//
// Each sealed value has a key of its own, derived with HKDF-SHA-256
// (Expand) from the secret's key for the Sealer's purpose and 16 random
// bytes kept with it, so no key ever seals more than one value and AES-GCM's limit of 2^32
// random nonces per key does not apply. The layout is
//
//	0xAC 0x02 | secret ID (4) | salt (16) | nonce (12) | ciphertext | tag (16)
//
// Values sealed before per-value keys (nonce | ciphertext | tag, directly
// under the purpose's key) still open.
type Sealer struct {
	keys   []ringKey // the current secret's first
	legacy []cipher.AEAD
}

type ringKey struct {
	id  [4]byte
	key []byte
}

const (
	magic0, magic1 = 0xAC, 0x02
	headerLen      = 2 + 4 + 16 // magic, secret ID, salt
	nonceLen       = 12
	tagLen         = 16
)

// NewSealer returns a Sealer for one purpose (e.g. "authkit/keys/seal")
// under secret's keyring.
func NewSealer(secret *authkit.Secret, purpose string) *Sealer {
	s := &Sealer{}
	for _, k := range secret.DeriveAll(purpose) {
		var rk ringKey
		hex.Decode(rk.id[:], []byte(k.SecretID))
		rk.key = k.Key
		s.keys = append(s.keys, rk)
		s.legacy = append(s.legacy, newGCM(k.Key))
	}
	return s
}

func newGCM(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(key)
	if err != nil { // only for a key that is not 16, 24 or 32 bytes
		panic("seal: " + err.Error())
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic("seal: " + err.Error())
	}
	return a
}

// valueKey is the AEAD of one value: HKDF-Expand of the purpose's key (a
// uniformly random key already, the output of HKDF) with its salt.
func valueKey(key, salt []byte) cipher.AEAD {
	k, err := hkdf.Expand(sha256.New, key, "authkit/seal/v2 "+string(salt), 32)
	if err != nil {
		panic("seal: hkdf: " + err.Error())
	}
	return newGCM(k)
}

// Seal encrypts and authenticates plaintext under the current secret,
// binding it to aad (e.g. the record's ID, so that a sealed value cannot
// be moved to another record).
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	cur := s.keys[0]
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plaintext)+tagLen)
	out[0], out[1] = magic0, magic1
	copy(out[2:6], cur.id[:])
	if _, err := rand.Read(out[6:]); err != nil { // salt and nonce
		panic("seal: crypto/rand: " + err.Error())
	}
	return valueKey(cur.key, out[6:headerLen]).Seal(out, out[headerLen:], plaintext, aad)
}

// Open reverses Seal, under whichever secret of the keyring sealed it.
// Returns ErrOpen if sealed was altered, was sealed under a secret the
// keyring does not hold, or with another aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if i := s.sealedBy(sealed); i >= 0 {
		h := sealed[:headerLen]
		p, err := valueKey(s.keys[i].key, h[6:]).Open(nil, sealed[headerLen:headerLen+nonceLen], sealed[headerLen+nonceLen:], aad)
		if err == nil {
			return p, nil
		}
	}
	if len(sealed) >= nonceLen+tagLen { // the format before per-value keys
		for _, a := range s.legacy {
			if p, err := a.Open(nil, sealed[:nonceLen], sealed[nonceLen:], aad); err == nil {
				return p, nil
			}
		}
	}
	return nil, ErrOpen
}

// sealedBy returns the index in the keyring of the secret whose ID sealed's
// header names, or -1.
func (s *Sealer) sealedBy(v []byte) int {
	if !hasHeader(v) {
		return -1
	}
	for i, k := range s.keys {
		if [4]byte(v[2:6]) == k.id {
			return i
		}
	}
	return -1
}

// Reseal returns sealed sealed again under the current secret, or nil if
// the current secret sealed it already.
func (s *Sealer) Reseal(sealed, aad []byte) ([]byte, error) {
	if s.sealedBy(sealed) == 0 {
		return nil, nil
	}
	p, err := s.Open(sealed, aad)
	if err != nil {
		return nil, err
	}
	defer clear(p)
	return s.Seal(p, aad), nil
}

// SecretID returns the fingerprint of the secret that sealed v, from its
// header, or "" for a value sealed before secrets were recorded.
func SecretID(sealed []byte) string {
	if !hasHeader(sealed) {
		return ""
	}
	return hex.EncodeToString(sealed[2:6])
}

// hasHeader reports whether v is long enough and starts as a value sealed
// with a key of its own does. (A value sealed before may too, by chance:
// Open then falls back on the old format.)
func hasHeader(v []byte) bool {
	return len(v) >= headerLen+nonceLen+tagLen && v[0] == magic0 && v[1] == magic1
}
