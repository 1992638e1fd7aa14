// Package metrics holds authkit's instruments, made once from an
// OpenTelemetry MeterProvider, and the methods the services record with.
// Every method may be called on a nil *Metrics (no MeterProvider
// configured), and then does nothing: an app without metrics pays one
// branch.
//
// The verification path runs on every request, often in a fraction of a
// microsecond, and a synchronous counter of the OpenTelemetry SDK costs
// 0.2–0.4 µs per Add (it normalises the attributes on every call). So
// verifications and cache lookups are counted in plain atomic integers, one
// add per verification, and reported by a callback of observable counters
// at each collection; the precomputed attribute sets of the callback are
// made once. The rest (tokens issued, sessions opened, reuse detections,
// refusals, store latency) is rarer and slower by nature, and is recorded
// with synchronous instruments, with precomputed attribute options too.
package metrics

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/authkit/authkit"
)

// ScopeName is the instrumentation scope of authkit's meter.
const ScopeName = "github.com/authkit/authkit"

// Credential is what a verification verified.
type Credential uint8

// The credentials, attribute credential of authkit.verifications; their
// caches are attribute cache of authkit.cache.lookups.
const (
	Key   Credential = iota // an application key (cache "keys")
	Token                   // an access token (cache "tokens")
	nCredentials
)

var credentialNames = [nCredentials]string{"key", "token"}
var cacheNames = [nCredentials]string{"keys", "tokens"}

// Outcome is how a verification ended.
type Outcome uint8

// The outcomes, attribute outcome of authkit.verifications.
const (
	OK       Outcome = iota // verified
	Invalid                 // malformed, unknown, badly signed: not a credential of ours
	Expired                 // expired (the credential, its key or its session)
	Revoked                 // revoked or deleted
	Disabled                // its key is disabled
	Error                   // the store failed: says nothing of the credential
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"ok", "invalid", "expired", "revoked", "disabled", "error"}

// OutcomeOf classifies a verification's error.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OK
	case errors.Is(err, authkit.ErrExpired):
		return Expired
	case errors.Is(err, authkit.ErrRevoked):
		return Revoked
	case errors.Is(err, authkit.ErrDisabled):
		return Disabled
	case errors.Is(err, authkit.ErrUnauthenticated), errors.Is(err, authkit.ErrInvalid), errors.Is(err, authkit.ErrNotFound):
		return Invalid
	}
	return Error
}

// Lookup is what a verification's cache said.
type Lookup uint8

// The lookups: none (refused before the cache, or no cache), a hit, a miss.
const (
	NoLookup Lookup = iota
	Hit
	Miss
	nLookups
)

// Flow is how a token was issued.
type Flow uint8

// The flows, attribute flow of authkit.tokens.issued.
const (
	Exchange  Flow = iota // a key exchanged (the token endpoints, OAuth client credentials)
	Refresh               // a refresh token spent
	Login                 // the login flow, with a key
	UserLogin             // the login flow, for one of the app's users
	nFlows
)

var flowNames = [nFlows]string{"exchange", "refresh", "login", "user_login"}

// SessionKind is attribute kind of authkit.sessions.opened.
type SessionKind uint8

// The kinds of sessions opened.
const (
	GrantSession SessionKind = iota
	LoginSession
	nSessionKinds
)

var sessionKindNames = [nSessionKinds]string{"grant", "login"}

// Reason is why a request was refused, attribute reason of
// authkit.limiter.refusals.
type Reason uint8

// The reasons.
const (
	RateLimited       Reason = iota // a key's or owner's rate limit
	UsageExceeded                   // out of credits
	AddressNotAllowed               // outside the key's allow-list
	Unavailable                     // the counters failed and the Gate fails closed
	FailedCredentials               // the client failed too many credentials (httpmw.Limiter)
	nReasons
)

var reasonNames = [nReasons]string{"rate_limited", "usage_exceeded", "address_not_allowed", "unavailable", "failed_credentials"}

// Op is the store call timed, attribute op of authkit.store.duration.
type Op uint8

// The store calls timed: those of the verification and issuance paths that
// no cache answered.
const (
	KeyBySecret Op = iota
	KeyByID
	Session
	RefreshToken
	CreateSession
	SpendRefreshToken
	LoginSessionOp
	ReplaceSessionToken
	EndOldestSessions
	nOps
)

var opNames = [nOps]string{"key_by_secret", "key_by_id", "session", "refresh_token", "create_session",
	"spend_refresh_token", "login_session", "replace_session_token", "end_oldest_sessions"}

// storeBuckets are the histogram's bounds, in seconds: 50 µs (a memory
// store) to 5 s.
var storeBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// Metrics is the instruments of one service. Make it with [New].
type Metrics struct {
	// counts of verifications by credential, lookup and outcome: what the
	// hot path adds to, one add per verification.
	counts [nCredentials][nLookups][nOutcomes]paddedInt64

	meter   metric.Meter
	feedReg metric.Registration // ObserveFeedAge's

	verifications metric.Int64ObservableCounter
	lookups       metric.Int64ObservableCounter
	verifyOpts    [nCredentials][nOutcomes][]metric.ObserveOption
	lookupOpts    [nCredentials][2][]metric.ObserveOption // hit, miss
	reg           metric.Registration

	issued     metric.Int64Counter
	issuedOpts [nFlows][]metric.AddOption
	opened     metric.Int64Counter
	openedOpts [nSessionKinds][]metric.AddOption
	reuse      metric.Int64Counter
	refusals   metric.Int64Counter
	refuseOpts [nReasons][]metric.AddOption
	store      metric.Float64Histogram
	storeOpts  [nOps][]metric.RecordOption
}

// paddedInt64 keeps the hot counters of one service on cache lines of their
// own.
type paddedInt64 struct {
	atomic.Int64
	_ [56]byte
}

// New makes the instruments from mp's meter for authkit; a nil mp, or
// OpenTelemetry's noop provider, gives a nil *Metrics, which records
// nothing. The instruments of several services
// on one provider are the same instruments: their counts add up. Call
// Close to stop reporting.
func New(mp metric.MeterProvider) (*Metrics, error) {
	if _, ok := mp.(noop.MeterProvider); ok || mp == nil {
		return nil, nil
	}
	mt := mp.Meter(ScopeName)
	m := &Metrics{meter: mt}
	var errs [8]error
	m.verifications, errs[0] = mt.Int64ObservableCounter("authkit.verifications", metric.WithUnit("{verification}"),
		metric.WithDescription("Credentials verified, by credential (key, token) and outcome (ok, invalid, expired, revoked, disabled, error)."))
	m.lookups, errs[1] = mt.Int64ObservableCounter("authkit.cache.lookups", metric.WithUnit("{lookup}"),
		metric.WithDescription("Lookups of the verified-credential caches, by cache (keys, tokens) and result (hit, miss)."))
	m.issued, errs[2] = mt.Int64Counter("authkit.tokens.issued", metric.WithUnit("{token}"),
		metric.WithDescription("Access tokens issued, by flow (exchange, refresh, login, user_login)."))
	m.opened, errs[3] = mt.Int64Counter("authkit.sessions.opened", metric.WithUnit("{session}"),
		metric.WithDescription("Sessions opened, by kind (grant, login)."))
	m.reuse, errs[4] = mt.Int64Counter("authkit.refresh.reuse_detected", metric.WithUnit("{detection}"),
		metric.WithDescription("Spent refresh tokens presented again: each revoked its family."))
	m.refusals, errs[5] = mt.Int64Counter("authkit.limiter.refusals", metric.WithUnit("{request}"),
		metric.WithDescription("Requests refused by a key's policy or the failed-credential limiter, by reason."))
	m.store, errs[6] = mt.Float64Histogram("authkit.store.duration", metric.WithUnit("s"),
		metric.WithDescription("Store calls of the verification and issuance paths that no cache answered, by op."),
		metric.WithExplicitBucketBoundaries(storeBuckets...))
	for c := range nCredentials {
		for o := range nOutcomes {
			m.verifyOpts[c][o] = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(
				attribute.String("credential", credentialNames[c]), attribute.String("outcome", outcomeNames[o])))}
		}
		for i, r := range []string{"hit", "miss"} {
			m.lookupOpts[c][i] = []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(
				attribute.String("cache", cacheNames[c]), attribute.String("result", r)))}
		}
	}
	for f := range nFlows {
		m.issuedOpts[f] = addOpts("flow", flowNames[f])
	}
	for k := range nSessionKinds {
		m.openedOpts[k] = addOpts("kind", sessionKindNames[k])
	}
	for r := range nReasons {
		m.refuseOpts[r] = addOpts("reason", reasonNames[r])
	}
	for op := range nOps {
		m.storeOpts[op] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("op", opNames[op])))}
	}
	m.reg, errs[7] = mt.RegisterCallback(m.observe, m.verifications, m.lookups)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return m, nil
}

func addOpts(k, v string) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(k, v)))}
}

// Close stops reporting this service's verifications and lookups, and
// the feed's age.
func (m *Metrics) Close() {
	if m == nil {
		return
	}
	for _, r := range []metric.Registration{m.reg, m.feedReg} {
		if r != nil {
			r.Unregister()
		}
	}
}

// ObserveFeedAge reports age, as authkit.verifier.feed.age, at every
// collection until Close: how long ago a verifier last heard from its
// token service's revocation feed (ok false: it has not caught up yet,
// and nothing is reported).
func (m *Metrics) ObserveFeedAge(age func() (d time.Duration, ok bool)) error {
	if m == nil {
		return nil
	}
	g, err := m.meter.Float64ObservableGauge("authkit.verifier.feed.age", metric.WithUnit("s"),
		metric.WithDescription("Seconds since the verifier last heard from the token service's revocation feed: past its MaxStale, it refuses tokens or checks them remotely."))
	if err != nil {
		return err
	}
	m.feedReg, err = m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if d, ok := age(); ok {
			o.ObserveFloat64(g, d.Seconds())
		}
		return nil
	}, g)
	return err
}

// observe reports the counts that moved: a series appears at its first
// count.
func (m *Metrics) observe(_ context.Context, o metric.Observer) error {
	for c := range nCredentials {
		var looked [2]int64 // hit, miss
		for oc := range nOutcomes {
			var n int64
			for l := range nLookups {
				v := m.counts[c][l][oc].Load()
				n += v
				if l != NoLookup {
					looked[l-Hit] += v
				}
			}
			if n > 0 {
				o.ObserveInt64(m.verifications, n, m.verifyOpts[c][oc]...)
			}
		}
		for i, n := range looked {
			if n > 0 {
				o.ObserveInt64(m.lookups, n, m.lookupOpts[c][i]...)
			}
		}
	}
	return nil
}

// Verified counts a verification of c whose cache said l and which ended
// with err. It allocates nothing.
func (m *Metrics) Verified(c Credential, l Lookup, err error) {
	if m != nil { // inlined: without metrics, a verification pays this test
		m.verified(c, l, err)
	}
}

func (m *Metrics) verified(c Credential, l Lookup, err error) {
	o := OK
	if err != nil {
		o = OutcomeOf(err)
	}
	m.counts[c][l][o].Add(1)
}

// Issued counts a token issued by flow f.
func (m *Metrics) Issued(ctx context.Context, f Flow) {
	if m != nil {
		m.issued.Add(ctx, 1, m.issuedOpts[f]...)
	}
}

// Opened counts a session opened.
func (m *Metrics) Opened(ctx context.Context, k SessionKind) {
	if m != nil {
		m.opened.Add(ctx, 1, m.openedOpts[k]...)
	}
}

// ReuseDetected counts a spent refresh token presented again.
func (m *Metrics) ReuseDetected(ctx context.Context) {
	if m != nil {
		m.reuse.Add(ctx, 1)
	}
}

// Refused counts a request refused for r.
func (m *Metrics) Refused(ctx context.Context, r Reason) {
	if m != nil {
		m.refusals.Add(ctx, 1, m.refuseOpts[r]...)
	}
}

// ReasonOf tells the reason of a Gate's refusal, false for an error that
// is none (a dead key, a canceled request).
func ReasonOf(err error) (Reason, bool) {
	switch {
	case errors.Is(err, authkit.ErrRateLimited):
		return RateLimited, true
	case errors.Is(err, authkit.ErrUsageExceeded):
		return UsageExceeded, true
	case errors.Is(err, authkit.ErrAddressNotAllowed):
		return AddressNotAllowed, true
	case errors.Is(err, authkit.ErrUnavailable):
		return Unavailable, true
	}
	return 0, false
}

// Start returns the time a store call starts, for [Metrics.Stored]; the
// zero time, without reading the clock, when m is nil.
func (m *Metrics) Start() time.Time {
	if m == nil {
		return time.Time{}
	}
	return time.Now()
}

// Stored records the duration of a store call op begun at start.
func (m *Metrics) Stored(ctx context.Context, op Op, start time.Time) {
	if m != nil {
		m.store.Record(ctx, time.Since(start).Seconds(), m.storeOpts[op]...)
	}
}
