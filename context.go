package authkit

import "context"

type principalKey struct{}

// NewContext returns a copy of ctx carrying p. The authentication
// middleware calls it; the zero Principal hides any principal of an outer
// context. It does not allocate for p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the [Principal] that the authentication middleware put
// in ctx, and whether there was one.
func FromContext(ctx context.Context) (Principal, bool) {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p, !p.IsZero()
}
