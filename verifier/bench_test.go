package verifier_test

import (
	"testing"

	"github.com/authkit/authkit/verifier"
)

// BenchmarkVerifyWarm compares, on a token seen before, the product API's
// Verifier with the token service's own tokens.Service.Verify, in the
// same run.
func BenchmarkVerifyWarm(b *testing.B) {
	s := newService(b)
	v := newVerifier(b, s, verifier.Config{})
	g := s.grant(b)
	for {
		if _, err := v.Verify(ctx, g.AccessToken); err == nil {
			break
		}
	}
	if _, err := s.ak.Tokens.Verify(ctx, g.AccessToken); err != nil {
		b.Fatal(err)
	}
	b.Run("token-service", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.ak.Tokens.Verify(ctx, g.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("product-api", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, g.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
}
