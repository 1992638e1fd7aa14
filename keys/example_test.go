package keys_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/keys"
	"github.com/authkit/authkit/storage/memory"
)

func ExampleService_Create() {
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	svc, _ := keys.New(keys.Config{Store: memory.New(), Secret: secret})

	k, key, err := svc.Create(context.Background(), keys.CreateRequest{
		Owner: "tenant-1", Handle: "ci-bot", Scopes: []string{"videos:read"},
	})
	if err != nil {
		panic(err)
	}
	// Show key to the customer once; only its hash is stored.
	fmt.Println(strings.HasPrefix(key, "ak_live_"), len(key))
	fmt.Println(k.Handle, k.Env, k.Scopes, k.Hint == key[:12])
	// Output:
	// true 44
	// ci-bot live [videos:read] true
}

func ExampleService_VerifyKey() {
	secret, _ := authkit.NewSecret([]byte("example-secret-from-config-0123456789"))
	svc, _ := keys.New(keys.Config{Store: memory.New(), Secret: secret})
	ctx := context.Background()
	_, key, _ := svc.Create(ctx, keys.CreateRequest{Owner: "tenant-1", Handle: "ci-bot"})

	k, err := svc.VerifyKey(ctx, key)
	fmt.Println(k.Owner, err)
	_, err = svc.VerifyKey(ctx, "ak_live_"+strings.Repeat("0", 36)) // refused by the checksum, no store asked
	fmt.Println(err)
	// Output:
	// tenant-1 <nil>
	// authkit: invalid key: not a well-formed key
}
