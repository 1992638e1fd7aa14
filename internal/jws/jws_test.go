package jws_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/matryer/is"

	"github.com/authkit/authkit/internal/jws"
)

// key is one signing key of the fixture, with the header segment go-jose
// writes for it and the Verifier of its known-header path.
type key struct {
	kid    string
	alg    jose.SignatureAlgorithm
	verify any // what go-jose verifies with
	signer jose.Signer
	header string // the protected header segment of its tokens
	v      *jws.Verifier
}

// fixture is two keys of each algorithm except ES256's one, so that a
// token can carry another key's header of the same or another algorithm.
type fixture struct {
	keys   []*key
	byKid  map[string]*key
	tokens []string // one per key
}

const payload = `{"iss":"https://issuer.example","sub":"tenant-1","aud":"api","exp":1900000000,"iat":1800000000,"jti":"0192","sid":"s-1","client_id":"k-1","scope":"videos:read"}`

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{byKid: map[string]*key{}}
	add := func(kid string, alg jose.SignatureAlgorithm, sign, verify any) {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: sign}, (&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
		if err != nil {
			tb.Fatal(err)
		}
		obj, err := s.Sign([]byte(payload))
		if err != nil {
			tb.Fatal(err)
		}
		tok, err := obj.CompactSerialize()
		if err != nil {
			tb.Fatal(err)
		}
		v, err := jws.New(string(alg), verify)
		if err != nil {
			tb.Fatal(err)
		}
		k := &key{kid: kid, alg: alg, verify: verify, signer: s, header: tok[:strings.IndexByte(tok, '.')], v: v}
		f.keys = append(f.keys, k)
		f.byKid[kid] = k
		f.tokens = append(f.tokens, tok)
	}
	for _, kid := range []string{"ed-a", "ed-b"} {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		add(kid, jose.EdDSA, priv, pub)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	add("ec-a", jose.ES256, ec, &ec.PublicKey)
	for _, kid := range []string{"hs-a", "hs-b"} {
		secret := make([]byte, 32)
		rand.Read(secret)
		add(kid, jose.HS256, secret, secret)
	}
	return f
}

// reference is go-jose's full path, as the tokens package runs it on a
// header it has not seen: parse, find the key the kid names, check the
// algorithm is the key's, verify.
func (f *fixture) reference(token string) ([]byte, bool) {
	obj, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.HS256})
	if err != nil || len(obj.Signatures) != 1 {
		return nil, false
	}
	h := obj.Signatures[0].Protected
	k := f.byKid[h.KeyID]
	if k == nil || jose.SignatureAlgorithm(h.Algorithm) != k.alg {
		return nil, false
	}
	p, err := obj.Verify(k.verify)
	return p, err == nil
}

// fast is the known-header path: the Verifier of the key whose header
// segment the token carries. decided is false where go-jose decides (a
// header never seen, or ErrNotCanonical).
func (f *fixture) fast(token string) (payload []byte, ok, decided bool) {
	hdr, _, _ := strings.Cut(token, ".")
	for _, k := range f.keys {
		if k.header == hdr {
			p, err := k.v.Verify(token)
			if errors.Is(err, jws.ErrNotCanonical) {
				return nil, false, false
			}
			return p, err == nil, true
		}
	}
	return nil, false, false
}

// FuzzVerifyMatchesGoJose holds Verify to go-jose's full path: on every
// token that carries a known header, both accept or both refuse, with the
// same payload. The input is a header (by index) and the rest of a token,
// seeded with every key's token and the usual forgeries.
func FuzzVerifyMatchesGoJose(f *testing.F) {
	fx := newFixture(f)
	for i, tok := range fx.tokens {
		rest := tok[len(fx.keys[i].header):]
		body, sig, _ := strings.Cut(rest[1:], ".")
		for h := range fx.keys {
			f.Add(uint8(h), rest) // its own header, and every other key's
		}
		other := fx.tokens[(i+1)%len(fx.tokens)]
		_, oBody, _ := strings.Cut(other, ".")
		oBody, _, _ = strings.Cut(oBody, ".")
		seeds := []string{
			rest[:len(rest)-1],           // truncated signature
			rest[:len(rest)/2],           // truncated payload
			"." + body + ".",             // no signature
			"." + body,                   // two segments
			"." + body + "." + sig + ".", // four segments
			"." + oBody + "." + sig,      // another payload
			"." + body + "\n." + sig,     // LF in the payload: go-jose skips it
			"." + body[:10] + "\r\n" + body[10:] + "." + sig,
			"." + body + "." + sig[:20] + "\n" + sig[20:], // LF in the signature
			"." + body + "." + sig + "A",                  // a longer signature
			"." + flipLast(body) + "." + sig,              // the payload's padding bits
			"." + body + "." + flipLast(sig),              // the signature's padding bits
			"." + body + "." + strings.Repeat("A", len(sig)),
			"." + body + "=." + sig, // padding
			"." + strings.ToUpper(body) + "." + sig,
			"." + body + "." + sig + strings.Repeat("\n", 40),
		}
		for _, s := range seeds {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, h uint8, rest string) {
		token := fx.keys[int(h)%len(fx.keys)].header + rest
		want, wantOK := fx.reference(token)
		got, ok, decided := fx.fast(token)
		if !decided {
			return
		}
		if ok != wantOK || !bytes.Equal(got, want) {
			t.Fatalf("known-header path: ok=%v payload=%q; go-jose: ok=%v payload=%q; token %q", ok, got, wantOK, want, token)
		}
	})
}

// flipLast changes the unused bits of a base64url segment's last
// character, when it has any: the same bytes, another spelling.
func flipLast(seg string) string {
	if len(seg)%4 == 0 {
		return seg
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return seg
	}
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, seg[len(seg)-1])
	s := seg[:len(seg)-1] + string(alphabet[last^1])
	if c, err := base64.RawURLEncoding.DecodeString(s); err != nil || !bytes.Equal(b, c) {
		return seg
	}
	return s
}

func TestVerify_AcceptsWhatItSignedAndRefusesTheRest(t *testing.T) {
	is := is.New(t)
	fx := newFixture(t)
	for i, tok := range fx.tokens {
		p, err := fx.keys[i].v.Verify(tok)
		is.NoErr(err)
		is.Equal(string(p), payload)
		for j, k := range fx.keys { // every other key refuses it
			if j != i {
				_, err := k.v.Verify(tok)
				is.True(errors.Is(err, jws.ErrSignature) || errors.Is(err, jws.ErrMalformed))
			}
		}
		hdr, rest, _ := strings.Cut(tok, ".")
		body, sig, _ := strings.Cut(rest, ".")
		_, err = fx.keys[i].v.Verify(hdr + "." + body + "\n." + sig)
		is.True(errors.Is(err, jws.ErrNotCanonical)) // go-jose decides
		if s := flipLast(body); s != body {
			_, err = fx.keys[i].v.Verify(hdr + "." + s + "." + sig)
			is.True(errors.Is(err, jws.ErrNotCanonical))
		}
		_, err = fx.keys[i].v.Verify(hdr + "." + body + "!." + sig)
		is.True(errors.Is(err, jws.ErrMalformed))
		_, err = fx.keys[i].v.Verify(hdr + "." + body)
		is.True(errors.Is(err, jws.ErrMalformed))
		is.True(jws.Canonical(hdr))
		is.True(!jws.Canonical(hdr[:5] + "\n" + hdr[5:]))
	}
}

func TestNew_RefusesAKeyOfAnotherAlgorithm(t *testing.T) {
	is := is.New(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, c := range []struct {
		alg string
		key any
	}{
		{"ES256", pub}, {"EdDSA", make([]byte, 32)}, {"HS256", make([]byte, 31)},
		{"ES256", &ec.PublicKey}, {"RS256", "x"}, {"EdDSA", ed25519.PublicKey(make([]byte, 31))},
	} {
		_, err := jws.New(c.alg, c.key)
		is.True(err != nil)
	}
}

// TestVerify_AllocatesOnlyThePayload: the signature is decoded on the
// stack, and the pooled HMAC sums into its own buffer; the payload is the
// one allocation.
func TestVerify_AllocatesOnlyThePayload(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race, sync.Pool drops items at random: counted without it")
	}
	is := is.New(t)
	fx := newFixture(t)
	for i, tok := range fx.tokens {
		if fx.keys[i].alg == jose.ES256 {
			continue // ecdsa.Verify allocates inside
		}
		n := testing.AllocsPerRun(100, func() {
			if _, err := fx.keys[i].v.Verify(tok); err != nil {
				t.Fatal(err)
			}
		})
		is.Equal(n, 1.0)
	}
}
