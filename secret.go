package authkit

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// MinSecretLen is the shortest server secret authkit accepts, in bytes.
const MinSecretLen = 32

// Secret is the server secret: a keyring of the current secret and any
// previous ones. Every value authkit seals (recoverable keys, login session
// tokens, signing keys, refresh pairs within their grace) is sealed under
// the current one and records which secret made it; the previous ones only
// open what they made, until a rewrap (server.Server.Rewrap) has sealed it
// again under the current one. The keys of the keyed hashes (of keys and
// refresh tokens) are themselves sealed in the store, so that a hash never
// has to change when the secret does.
//
// It comes from config, an environment variable or a 0600 file, never from
// code. Its String and GoString never show it.
type Secret struct {
	ring []secretKey // the current secret first
}

type secretKey struct {
	id string // a public fingerprint: SecretID
	b  []byte
}

// NewSecret returns a Secret of current and the previous secrets, holding
// copies of them. Returns an error wrapping ErrInvalid if one is shorter
// than [MinSecretLen] or if a secret is given twice.
func NewSecret(current []byte, previous ...[]byte) (*Secret, error) {
	s := &Secret{}
	for _, b := range append([][]byte{current}, previous...) {
		if len(b) < MinSecretLen {
			return nil, Invalid("secret", fmt.Sprintf("must be at least %d bytes", MinSecretLen))
		}
		k := secretKey{id: secretID(b), b: append([]byte(nil), b...)}
		if slices.ContainsFunc(s.ring, func(o secretKey) bool { return o.id == k.id }) {
			return nil, Invalid("secret", "a secret is given twice")
		}
		s.ring = append(s.ring, k)
	}
	return s, nil
}

// secretID is a secret's public fingerprint: 8 hex digits of a keyed hash.
func secretID(b []byte) string {
	m := hmac.New(sha256.New, b)
	m.Write([]byte("authkit/secret-id"))
	return hex.EncodeToString(m.Sum(nil)[:4])
}

// ID returns the current secret's fingerprint: 8 hex digits that tell the
// secrets apart and say nothing about them.
func (s *Secret) ID() string { return s.ring[0].id }

// IDs returns the fingerprints of every secret of the keyring, the current
// one first.
func (s *Secret) IDs() []string {
	ids := make([]string, len(s.ring))
	for i, k := range s.ring {
		ids[i] = k.id
	}
	return ids
}

// LoadSecret reads the server secret from the environment variable env if
// it is set and not empty, else from the file at path, which must not be
// readable or writable by group or others (mode 0600 or stricter). The text
// holds the current secret, then any previous ones, one per line (leading
// and trailing white space trimmed, empty lines skipped). If the variable is unset and the file
// does not exist, it returns an error wrapping [fs.ErrNotExist].
func LoadSecret(env, path string) (*Secret, error) {
	if env != "" {
		if v := strings.TrimSpace(os.Getenv(env)); v != "" {
			return parseSecret(v)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("authkit: server secret: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("authkit: server secret file %s has mode %v, want 0600: %w", path, fi.Mode().Perm(), ErrInvalid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authkit: server secret: %w", err)
	}
	return parseSecret(string(b))
}

func parseSecret(text string) (*Secret, error) {
	var lines [][]byte
	for l := range strings.Lines(text) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, []byte(l))
		}
	}
	if len(lines) == 0 {
		return nil, Invalid("secret", "empty")
	}
	return NewSecret(lines[0], lines[1:]...)
}

// NewSecretText returns a new random secret as text (32 bytes from
// crypto/rand, in hex), for a secret file or variable.
func NewSecretText() string {
	raw := make([]byte, 32)
	rand.Read(raw)
	return hex.EncodeToString(raw)
}

// LoadOrCreateSecret is [LoadSecret], but if neither the variable nor the
// file exists it writes a new random secret (32 bytes from crypto/rand, hex)
// to path with mode 0600 and returns it.
func LoadOrCreateSecret(env, path string) (*Secret, error) {
	s, err := LoadSecret(env, path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	text := NewSecretText()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("authkit: create server secret: %w", err)
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("authkit: create server secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("authkit: create server secret: %w", err)
	}
	return NewSecret([]byte(text))
}

// Derive returns a 32-byte key for one purpose (e.g. "authkit/keys/seal"),
// derived from the current secret with HKDF-SHA-256. Different purposes
// give independent keys.
func (s *Secret) Derive(purpose string) []byte { return derive(s.ring[0].b, purpose) }

// DerivedKey is a key derived from one secret of the keyring for one
// purpose, with that secret's fingerprint.
type DerivedKey struct {
	SecretID string
	Key      []byte
}

// DeriveAll returns Derive(purpose) under every secret of the keyring, the
// current one first.
func (s *Secret) DeriveAll(purpose string) []DerivedKey {
	out := make([]DerivedKey, len(s.ring))
	for i, k := range s.ring {
		out[i] = DerivedKey{SecretID: k.id, Key: derive(k.b, purpose)}
	}
	return out
}

func derive(secret []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, purpose, 32)
	if err != nil { // only for lengths HKDF cannot give; 32 always works
		panic("authkit: hkdf: " + err.Error())
	}
	return k
}

// String hides the secret.
func (s *Secret) String() string { return "authkit.Secret(redacted)" }

// GoString hides the secret.
func (s *Secret) GoString() string { return s.String() }
