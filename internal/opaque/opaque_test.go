package opaque

import (
	"strings"
	"testing"

	"github.com/matryer/is"
)

func TestNew_IsValidAndRandom(t *testing.T) {
	is := is.New(t)
	a, b := New("ak_live_"), New("ak_live_")
	is.True(a != b)
	is.Equal(len(a), len("ak_live_")+RandomLen+ChecksumLen)
	is.True(Valid(a, "ak_live_"))
	is.True(!Valid(a, "ak_test_"))
}

func TestValid_RefusesEverySingleCharacterTypo(t *testing.T) {
	is := is.New(t)
	s := New("rt_")
	for i := len("rt_"); i < len(s); i++ {
		for _, c := range []byte("0aZ") {
			if s[i] == c {
				continue
			}
			typo := s[:i] + string(c) + s[i+1:]
			is.True(!Valid(typo, "rt_")) // CRC-32 catches every single-character change
		}
	}
	is.True(!Valid(s[:len(s)-1], "rt_"))
	is.True(!Valid(s+"0", "rt_"))
	is.True(!Valid(strings.Replace(s, s[5:6], "_", 1), "rt_"))
}

func TestValid_NoAllocation(t *testing.T) {
	s := New("ak_live_")
	if n := testing.AllocsPerRun(100, func() { Valid(s, "ak_live_") }); n != 0 {
		t.Fatalf("Valid allocates %v times", n)
	}
}

func FuzzValid(f *testing.F) {
	f.Add(New("ak_live_"))
	f.Add("ak_live_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if Valid(s, "ak_live_") {
			if !strings.HasPrefix(s, "ak_live_") || len(s) != 8+RandomLen+ChecksumLen {
				t.Fatalf("accepted malformed %q", s)
			}
		}
	})
}
