// Package opaque makes and parses authkit's opaque secrets: a prefix, at
// least 128 bits of crypto/rand randomness in base62, and a 32-bit CRC
// checksum in base62, so that a typo or a random string is refused by
// parsing alone, before any store is asked (as GitHub's tokens do).
//
//	<prefix><random:30><checksum:6>
//
// The checksum covers everything before it, prefix included.
package opaque

import (
	"crypto/rand"
	"hash/crc32"
)

const (
	// RandomLen is the number of random base62 characters: 30 × log2(62) ≈ 178 bits.
	RandomLen = 30
	// ChecksumLen is the number of base62 characters of the CRC-32 (62^6 > 2^32).
	ChecksumLen = 6
)

var ieee = crc32.MakeTable(crc32.IEEE)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// New returns prefix followed by RandomLen random base62 characters and the
// checksum.
func New(prefix string) string {
	b := make([]byte, len(prefix), len(prefix)+RandomLen+ChecksumLen)
	copy(b, prefix)
	var buf [64]byte
	for n := 0; n < RandomLen; {
		if _, err := rand.Read(buf[:]); err != nil {
			panic("opaque: crypto/rand: " + err.Error())
		}
		for _, c := range buf {
			if c >= 248 { // 248 = 4 × 62: reject to keep the draw unbiased
				continue
			}
			b = append(b, alphabet[c%62])
			n++
			if n == RandomLen {
				break
			}
		}
	}
	return string(appendChecksum(b, crc32.ChecksumIEEE(b)))
}

func appendChecksum(b []byte, sum uint32) []byte {
	var c [ChecksumLen]byte
	for i := ChecksumLen - 1; i >= 0; i-- {
		c[i] = alphabet[sum%62]
		sum /= 62
	}
	return append(b, c[:]...)
}

// Valid reports whether s is prefix followed by exactly RandomLen base62
// characters and their correct checksum. It does not allocate.
func Valid(s, prefix string) bool {
	if len(s) != len(prefix)+RandomLen+ChecksumLen || s[:len(prefix)] != prefix {
		return false
	}
	body := s[len(prefix):]
	for i := 0; i < len(body); i++ {
		if !isBase62(body[i]) {
			return false
		}
	}
	n := len(s) - ChecksumLen
	// The table-driven CRC-32 (IEEE) loop over the string itself: the same
	// value as crc32.ChecksumIEEE, without converting s to a heap []byte.
	sum := ^uint32(0)
	for i := 0; i < n; i++ {
		sum = ieee[byte(sum)^s[i]] ^ (sum >> 8)
	}
	sum = ^sum
	var want uint64 // 62^6 > 2^32: decode wide so that no value wraps onto another
	for i := n; i < len(s); i++ {
		want = want*62 + uint64(index(s[i]))
	}
	return want == uint64(sum)
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

func index(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'Z':
		return c - 'A' + 10
	}
	return c - 'a' + 36
}
