package seal

import (
	"bytes"
	"testing"

	"github.com/matryer/is"

	"github.com/authkit/authkit"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func secret(t *testing.T, b ...byte) *authkit.Secret {
	var prev [][]byte
	for _, x := range b[1:] {
		prev = append(prev, key(x))
	}
	s, err := authkit.NewSecret(key(b[0]), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealer_RoundTripAndBindsAAD(t *testing.T) {
	is := is.New(t)
	s := NewSealer(secret(t, 1), "p")
	c := s.Seal([]byte("hello"), []byte("id-1"))
	is.True(!bytes.Contains(c, []byte("hello")))
	p, err := s.Open(c, []byte("id-1"))
	is.NoErr(err)
	is.Equal(string(p), "hello")
	_, err = s.Open(c, []byte("id-2"))
	is.Equal(err, ErrOpen)
	_, err = NewSealer(secret(t, 2), "p").Open(c, []byte("id-1"))
	is.Equal(err, ErrOpen) // another secret
	_, err = NewSealer(secret(t, 1), "q").Open(c, []byte("id-1"))
	is.Equal(err, ErrOpen) // another purpose
	c[len(c)-1] ^= 1
	_, err = s.Open(c, []byte("id-1"))
	is.Equal(err, ErrOpen)
	_, err = s.Open([]byte("short"), nil)
	is.Equal(err, ErrOpen)
	a, b := s.Seal([]byte("x"), nil), s.Seal([]byte("x"), nil)
	is.True(!bytes.Equal(a, b))              // random salts and nonces
	is.True(!bytes.Equal(a[6:22], b[6:22]))  // a key of its own per value
	is.Equal(SecretID(a), secret(t, 1).ID()) // the header names the secret
}

// TestSealer_Keyring: a keyring seals under its current secret, opens what
// a previous one sealed, and Reseal moves a value to the current one.
func TestSealer_Keyring(t *testing.T) {
	is := is.New(t)
	old := NewSealer(secret(t, 1), "p")
	c := old.Seal([]byte("hello"), []byte("id"))
	ring := NewSealer(secret(t, 2, 1), "p")
	p, err := ring.Open(c, []byte("id"))
	is.NoErr(err)
	is.Equal(string(p), "hello")
	is.Equal(SecretID(ring.Seal(nil, nil)), secret(t, 2).ID())

	again, err := ring.Reseal(c, []byte("id"))
	is.NoErr(err)
	is.Equal(SecretID(again), secret(t, 2).ID())
	nothing, err := ring.Reseal(again, []byte("id"))
	is.NoErr(err)
	is.True(nothing == nil) // sealed under the current secret already
	p, err = NewSealer(secret(t, 2), "p").Open(again, []byte("id"))
	is.NoErr(err) // the new secret alone opens it now
	is.Equal(string(p), "hello")
	_, err = ring.Reseal(c, []byte("other"))
	is.Equal(err, ErrOpen)
}

// TestSealer_OpensTheFormatBeforePerValueKeys: nonce | ciphertext | tag
// straight under the purpose's key, as sealed before.
func TestSealer_OpensTheFormatBeforePerValueKeys(t *testing.T) {
	is := is.New(t)
	sec := secret(t, 1)
	a := newGCM(sec.Derive("p"))
	nonce := make([]byte, 12)
	c := a.Seal(append([]byte(nil), nonce...), nonce, []byte("old"), []byte("id"))
	p, err := NewSealer(secret(t, 2, 1), "p").Open(c, []byte("id"))
	is.NoErr(err)
	is.Equal(string(p), "old")
	is.Equal(SecretID(c), "")
}

func BenchmarkSealOpen(b *testing.B) {
	s := NewSealer(secret(&testing.T{}, 1), "p")
	for b.Loop() {
		if _, err := s.Open(s.Seal([]byte("a token of some length, say eighty bytes or so, as tokens are."), []byte("id")), []byte("id")); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHasher_KeyedAndConstantTimeEqual(t *testing.T) {
	is := is.New(t)
	a, b := NewHasher(key(1)), NewHasher(key(2))
	is.Equal(len(a.Sum("m")), 32)
	is.True(Equal(a.Sum("m"), a.Sum("m")))
	is.True(!Equal(a.Sum("m"), b.Sum("m")))
	is.True(!Equal(a.Sum("m"), a.Sum("n")))
}

func BenchmarkHasherSum(b *testing.B) {
	h := NewHasher(key(1))
	var out [32]byte
	b.ReportAllocs()
	for b.Loop() {
		h.SumInto(&out, "ak_live_0123456789abcdefghijABCDEFGHIJ012345")
	}
}
