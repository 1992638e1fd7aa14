package keys_test

import (
	"testing"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/memory"
)

// benchStores lists the backends BenchmarkVerifyKey runs on; files for
// other backends add to it in init.
var benchStores = []struct {
	name string
	open func(b *testing.B) authkit.Store
}{
	{"memory", func(b *testing.B) authkit.Store { return memory.New() }},
}

func BenchmarkVerifyKey(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			svc, err := keys.New(keys.Config{Store: bs.open(b), Secret: testSecret(b)})
			if err != nil {
				b.Fatal(err)
			}
			_, secret, err := svc.Create(ctx, authkit.KeyRequest{Owner: "a", Handle: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.VerifyKey(ctx, secret); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
