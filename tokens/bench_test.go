package tokens_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/tokens"
)

// The benchmarks live together so that one run compares them:
//
//	go test -run '^$' -bench . -benchmem ./tokens
//
// BenchmarkEd25519Verify is the floor: crypto/ed25519.Verify alone on a
// message as long as a token's signing input. BenchmarkVerify/cold-EdDSA
// verifies a new token each time (same key and session, so their liveness is
// cached), and should cost little more than that floor.

// benchFixture is the fixture of one benchmark, over the in-memory store.
func benchFixture(b *testing.B, alg string) *fixture {
	return newFixture(b, backends[0].open(b), tokens.Config{Algorithm: alg})
}

func BenchmarkEd25519Verify(b *testing.B) {
	f := benchFixture(b, tokens.EdDSA)
	tok, _ := f.issue(b)
	n := strings.LastIndexByte(tok, '.') // the length of the signing input
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	// Ed25519 verification takes a time that varies with the signature, so
	// cycle through many, as the cold benchmarks do with their tokens.
	msgs, sigs := make([][]byte, 1024), make([][]byte, 1024)
	for i := range msgs {
		msgs[i] = make([]byte, n)
		rand.Read(msgs[i])
		sigs[i] = ed25519.Sign(priv, msgs[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !ed25519.Verify(pub, msgs[i%len(msgs)], sigs[i%len(sigs)]) {
			b.Fatal("no")
		}
		i++
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{tokens.EdDSA, tokens.ES256, tokens.HS256} {
		b.Run("cold-"+alg, func(b *testing.B) {
			f := benchFixture(b, alg)
			ctx := context.Background()
			toks := make([]string, b.N)
			for i := range toks {
				toks[i], _ = f.issue(b)
			}
			if _, err := f.svc.Verify(ctx, toks[0]); err != nil { // liveness now cached
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.svc.Verify(ctx, toks[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("warm", func(b *testing.B) {
		f := benchFixture(b, tokens.EdDSA)
		ctx := context.Background()
		tok, _ := f.issue(b)
		if _, err := f.svc.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.svc.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm-parallel", func(b *testing.B) {
		f := benchFixture(b, tokens.EdDSA)
		ctx := context.Background()
		tok, _ := f.issue(b)
		if _, err := f.svc.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.svc.Verify(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkIssue(b *testing.B) {
	b.Run("EdDSA", func(b *testing.B) {
		f := benchFixture(b, tokens.EdDSA)
		ctx := context.Background()
		req := authkit.TokenRequest{Key: f.key, SessionID: f.sess.ID}
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := f.svc.Issue(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
