// Package seal holds the two primitives authkit builds on, both from the
// standard library: a keyed hash (HMAC-SHA-256) for secrets that are only
// ever compared, and authenticated encryption (AES-256-GCM, random nonces)
// for secrets that must be given back. Keys come from authkit.Secret.Derive.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"
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

// Sealer seals and opens values with AES-256-GCM under one key. It is safe
// for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: a}, nil
}

// Seal encrypts and authenticates plaintext, binding it to aad (e.g. the
// record's ID, so that a sealed value cannot be moved to another record).
// The result is nonce || ciphertext || tag.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	n := s.aead.NonceSize()
	out := make([]byte, n, n+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		panic("seal: crypto/rand: " + err.Error())
	}
	return s.aead.Seal(out, out[:n], plaintext, aad)
}

// Open reverses Seal. Returns ErrOpen if sealed was altered, was sealed
// under another key, or with another aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrOpen
	}
	p, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return p, nil
}
