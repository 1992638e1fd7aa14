package authkit

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// MinSecretLen is the shortest server secret authkit accepts, in bytes.
const MinSecretLen = 32

// Secret is the server secret: every hash and seal authkit makes derives its
// key from it. It comes from config, an environment variable or a 0600 file,
// never from code. Its String and GoString never show it.
type Secret struct {
	b []byte
}

// NewSecret returns a Secret holding a copy of b. Returns an error wrapping
// ErrInvalid if b is shorter than [MinSecretLen].
func NewSecret(b []byte) (*Secret, error) {
	if len(b) < MinSecretLen {
		return nil, Invalid("secret", fmt.Sprintf("must be at least %d bytes", MinSecretLen))
	}
	return &Secret{b: append([]byte(nil), b...)}, nil
}

// LoadSecret reads the server secret from the environment variable env if
// it is set and not empty, else from the file at path, which must not be
// readable or writable by group or others (mode 0600 or stricter). Leading
// and trailing white space is trimmed. If the variable is unset and the file
// does not exist, it returns an error wrapping [fs.ErrNotExist].
func LoadSecret(env, path string) (*Secret, error) {
	if env != "" {
		if v := strings.TrimSpace(os.Getenv(env)); v != "" {
			return NewSecret([]byte(v))
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
	return NewSecret([]byte(strings.TrimSpace(string(b))))
}

// LoadOrCreateSecret is [LoadSecret], but if neither the variable nor the
// file exists it writes a new random secret (32 bytes from crypto/rand, hex)
// to path with mode 0600 and returns it.
func LoadOrCreateSecret(env, path string) (*Secret, error) {
	s, err := LoadSecret(env, path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	text := hex.EncodeToString(raw)
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

// Derive returns a 32-byte key for one purpose (e.g. "authkit/keys/hash"),
// derived from the secret with HKDF-SHA-256. Different purposes give
// independent keys.
func (s *Secret) Derive(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, s.b, nil, purpose, 32)
	if err != nil { // only for lengths HKDF cannot give; 32 always works
		panic("authkit: hkdf: " + err.Error())
	}
	return k
}

// String hides the secret.
func (s *Secret) String() string { return "authkit.Secret(redacted)" }

// GoString hides the secret.
func (s *Secret) GoString() string { return s.String() }
