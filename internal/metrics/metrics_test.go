package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/matryer/is"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/authkit/authkit"
)

// The instruments' values under a real SDK are tested where the SDK may be
// a dependency: bench/metrics_test.go and examples/server.

func TestNew_NilProviderRecordsNothing(t *testing.T) {
	is := is.New(t)
	m, err := New(nil)
	is.NoErr(err)
	is.True(m == nil)
	ctx := context.Background()
	m.Verified(Key, Hit, nil) // none of these panics on a nil *Metrics
	m.Verified(Token, Miss, authkit.ErrExpired)
	m.Issued(ctx, Exchange)
	m.Opened(ctx, GrantSession)
	m.ReuseDetected(ctx)
	m.Refused(ctx, RateLimited)
	is.True(m.Start().IsZero()) // no clock read
	m.Stored(ctx, KeyByID, m.Start())
	m.Close()
}

func TestNew_NoopProviderIsNone(t *testing.T) {
	is := is.New(t)
	m, err := New(noop.NewMeterProvider())
	is.NoErr(err)
	is.True(m == nil)
}

// meterProvider is a MeterProvider that is not the noop one: its
// instruments do nothing, but New makes them.
type meterProvider struct{ noop.MeterProvider }

func TestNew_CountsInMemory(t *testing.T) {
	is := is.New(t)
	m, err := New(meterProvider{})
	is.NoErr(err)
	m.Verified(Key, Hit, nil)
	m.Verified(Key, Miss, authkit.ErrRevoked)
	is.Equal(m.counts[Key][Hit][OK].Load(), int64(1))
	is.Equal(m.counts[Key][Miss][Revoked].Load(), int64(1))
	m.Close()
}

func TestOutcomeOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Outcome
	}{
		{nil, OK},
		{fmt.Errorf("x: %w", authkit.ErrExpired), Expired},
		{&authkit.KeyRefusal{KeyID: "k", Err: authkit.ErrRevoked}, Revoked},
		{authkit.ErrDisabled, Disabled},
		{authkit.ErrUnauthenticated, Invalid},
		{authkit.Invalid("key", "malformed"), Invalid},
		{authkit.ErrNotFound, Invalid},
		{errors.New("the store is down"), Error},
	} {
		t.Run(fmt.Sprint(c.err), func(t *testing.T) {
			is := is.New(t)
			is.Equal(OutcomeOf(c.err), c.want)
		})
	}
}

func TestReasonOf(t *testing.T) {
	is := is.New(t)
	r, ok := ReasonOf(&authkit.LimitError{Err: authkit.ErrRateLimited})
	is.True(ok)
	is.Equal(r, RateLimited)
	r, ok = ReasonOf(fmt.Errorf("limits: %w", authkit.ErrAddressNotAllowed))
	is.True(ok)
	is.Equal(r, AddressNotAllowed)
	_, ok = ReasonOf(authkit.ErrRevoked)
	is.True(!ok) // a dead key is no refusal of the limiter
}

func TestVerified_AllocatesNothing(t *testing.T) {
	is := is.New(t)
	m, err := New(meterProvider{})
	is.NoErr(err)
	is.Equal(testing.AllocsPerRun(100, func() { m.Verified(Token, Hit, nil) }), 0.0)
}
