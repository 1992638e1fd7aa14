package seal

import (
	"bytes"
	"testing"

	"github.com/matryer/is"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSealer_RoundTripAndBindsAAD(t *testing.T) {
	is := is.New(t)
	s, err := NewSealer(key(1))
	is.NoErr(err)
	c := s.Seal([]byte("hello"), []byte("id-1"))
	is.True(!bytes.Contains(c, []byte("hello")))
	p, err := s.Open(c, []byte("id-1"))
	is.NoErr(err)
	is.Equal(string(p), "hello")
	_, err = s.Open(c, []byte("id-2"))
	is.Equal(err, ErrOpen)
	other, _ := NewSealer(key(2))
	_, err = other.Open(c, []byte("id-1"))
	is.Equal(err, ErrOpen)
	c[len(c)-1] ^= 1
	_, err = s.Open(c, []byte("id-1"))
	is.Equal(err, ErrOpen)
	_, err = s.Open([]byte("short"), nil)
	is.Equal(err, ErrOpen)
	is.True(!bytes.Equal(s.Seal([]byte("x"), nil), s.Seal([]byte("x"), nil))) // random nonces
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
