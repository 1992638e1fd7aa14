// Package jws checks the signature of a compact JWS whose protected header
// is already known to be good, with the crypto primitive of its algorithm
// called directly over the token's own signing input.
//
// go-jose parses and validates every header the first time it is seen
// (algorithm allow-list, kid, typ, crit); a header that verified a signature
// is remembered by the caller, and later tokens that carry the very same
// header segment come here instead of going through go-jose again, which
// would parse the header's JSON and base64-encode the payload anew for
// every token.
//
// The result is exactly go-jose's: go-jose verifies the signature over the
// canonical base64url encoding of the header and payload it decoded, which
// is the token's own "header.payload" bytes whenever those are canonical
// (no CR or LF, which base64 decoding skips, and zero padding bits). Verify
// reports [ErrNotCanonical] for any other token, and the caller hands it to
// go-jose. The differential fuzz target in this package holds it to that.
package jws

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"
	"sync"
	"unsafe"
)

// Errors Verify returns.
var (
	// ErrNotCanonical: the token's segments are not in canonical base64url,
	// so go-jose must decide (it may accept: it verifies the canonical
	// re-encoding of what it decoded).
	ErrNotCanonical = errors.New("jws: not canonical base64url")
	// ErrMalformed: not three segments, or a segment that is not base64url.
	ErrMalformed = errors.New("jws: malformed")
	// ErrSignature: the signature does not verify under the key.
	ErrSignature = errors.New("jws: bad signature")
)

// maxSigLen bounds the signature segment Verify decodes itself: the
// base64url length of the largest signature here (64 bytes: 86 characters),
// with room. A longer one (a valid signature with CR or LF in it, say) goes
// to go-jose.
const maxSigLen = 96

// Verifier checks signatures of one key under one algorithm. It is safe for
// concurrent use.
type Verifier struct {
	alg  string
	ed   ed25519.PublicKey
	ec   *ecdsa.PublicKey
	macs sync.Pool // of *mac, for HS256
}

// mac is a pooled HMAC with the buffer its sums go into.
type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// New returns a Verifier for alg ("EdDSA", "ES256" or "HS256") and its
// verification key: an ed25519.PublicKey, a P-256 *ecdsa.PublicKey or the
// HMAC key (at least 32 bytes, as go-jose requires; New keeps a copy).
func New(alg string, key any) (*Verifier, error) {
	v := &Verifier{alg: alg}
	switch k := key.(type) {
	case ed25519.PublicKey:
		if alg != "EdDSA" || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("jws: an Ed25519 key is not %s", alg)
		}
		v.ed = k
	case *ecdsa.PublicKey:
		if alg != "ES256" || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("jws: this ECDSA key is not %s", alg)
		}
		v.ec = k
	case []byte:
		if alg != "HS256" || len(k) < sha256.Size {
			return nil, fmt.Errorf("jws: a %d-byte HMAC key is not %s", len(k), alg)
		}
		secret := append([]byte(nil), k...)
		v.macs.New = func() any { return &mac{h: hmac.New(sha256.New, secret)} }
	default:
		return nil, fmt.Errorf("jws: unsupported key type %T", key)
	}
	return v, nil
}

// Verify checks token, a compact JWS whose header segment the caller knows
// names this Verifier's key and algorithm, and returns its decoded payload
// (a new slice). Errors: [ErrMalformed], [ErrNotCanonical] (go-jose
// decides) or [ErrSignature].
func (v *Verifier) Verify(token string) ([]byte, error) {
	hdr, rest, ok := strings.Cut(token, ".")
	body, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.IndexByte(sig, '.') >= 0 {
		return nil, ErrMalformed
	}
	if !canonicalChars(hdr) || !canonicalChars(body) || len(sig) > maxSigLen {
		return nil, ErrNotCanonical
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		if _, err := base64.RawURLEncoding.DecodeString(body); err == nil {
			return nil, ErrNotCanonical // non-zero padding bits
		}
		return nil, ErrMalformed
	}
	// The signature as go-jose decodes it (not strict): it is not part of
	// the signing input, so any spelling of the same bytes is the same.
	var sb [maxSigLen]byte
	n, err := base64.RawURLEncoding.Decode(sb[:], unsafe.Slice(unsafe.StringData(sig), len(sig)))
	if err != nil {
		return nil, ErrMalformed
	}
	// The signing input, "header.payload", read in place.
	input := unsafe.Slice(unsafe.StringData(token), len(hdr)+1+len(body))
	if !v.check(input, sb[:n]) {
		return nil, ErrSignature
	}
	return payload, nil
}

// Canonical reports whether seg, one segment of a compact JWS, is canonical
// base64url: what a header segment must be for a caller to remember it.
func Canonical(seg string) bool {
	if !canonicalChars(seg) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	return err == nil
}

// canonicalChars reports whether seg has no CR or LF, the characters
// base64 decoding skips.
func canonicalChars(seg string) bool {
	return strings.IndexByte(seg, '\n') < 0 && strings.IndexByte(seg, '\r') < 0
}

// check verifies sig over input as go-jose's verifiers do for v's
// algorithm.
func (v *Verifier) check(input, sig []byte) bool {
	switch {
	case v.ed != nil:
		return ed25519.Verify(v.ed, input, sig)
	case v.ec != nil:
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(input)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(v.ec, h[:], r, s)
	default:
		m := v.macs.Get().(*mac)
		m.h.Reset()
		m.h.Write(input)
		ok := hmac.Equal(m.h.Sum(m.sum[:0]), sig)
		v.macs.Put(m)
		return ok
	}
}
