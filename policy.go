package authkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Policy is what a key may do beyond its scopes: rate limits, usage
// credits, the addresses it may be used from, and the app's own metadata.
// It is set when the key is created and changed later ([KeyUpdate]), and a
// [Gate] enforces it on every request the key authenticates, by itself or
// through any token issued from it. The zero Policy limits nothing.
type Policy struct {
	// RateLimits are counted on every request, each in its own fixed
	// window; a request over any of them is refused with [ErrRateLimited].
	RateLimits []RateLimit `json:"rate_limits,omitempty"`
	// Credits, when set, is a balance each request spends 1 of; at zero
	// requests are refused with [ErrUsageExceeded] until a refill.
	Credits *Credits `json:"credits,omitempty"`
	// AllowedIPs, when not empty, are the only client addresses the key
	// may be used from; others are refused with [ErrAddressNotAllowed].
	AllowedIPs []netip.Prefix `json:"allowed_ips,omitempty"`
	// Metadata is the app's own JSON object (at most [MaxMetadata] bytes),
	// handed to it with the principal of every request the key makes.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// RateLimit is one named limit of a [Policy]: at most Limit in every
// Window, each request counting Cost.
type RateLimit struct {
	Name   string        `json:"name"`           // 1–32 of [a-z0-9_-], unique in the policy
	Limit  int64         `json:"limit"`          // 1 or more
	Window time.Duration `json:"window"`         // 1 s to 30 days, whole seconds
	Cost   int64         `json:"cost,omitempty"` // what one request counts; 0 means 1; at most Limit
}

// CostOrOne returns what one request counts against l.
func (l RateLimit) CostOrOne() int64 {
	if l.Cost <= 0 {
		return 1
	}
	return l.Cost
}

// Limits of a [Policy].
const (
	MaxRateLimits = 8       // rate limits per policy
	MaxAllowedIPs = 64      // CIDR ranges per policy
	MaxMetadata   = 4 << 10 // bytes of metadata
)

// IsZero reports whether p limits nothing and holds no metadata.
func (p *Policy) IsZero() bool {
	return len(p.RateLimits) == 0 && p.Credits == nil && len(p.AllowedIPs) == 0 && len(p.Metadata) == 0
}

// Check reports a [*FieldError] for the first thing wrong with p, naming
// the field as the HTTP handlers spell it ("ratelimits", "credits",
// "allowed_ips", "metadata"). It also puts p in its canonical form: each
// prefix masked, the metadata compacted.
func (p *Policy) Check() error {
	if len(p.RateLimits) > MaxRateLimits {
		return Invalid("ratelimits", fmt.Sprintf("at most %d rate limits", MaxRateLimits))
	}
	for i, l := range p.RateLimits {
		if !validName(l.Name) {
			return Invalid("ratelimits", "each name must be 1 to 32 of a-z, 0-9, _ and -")
		}
		for _, o := range p.RateLimits[:i] {
			if o.Name == l.Name {
				return Invalid("ratelimits", fmt.Sprintf("the name %q is used twice", l.Name))
			}
		}
		switch {
		case l.Limit < 1 || l.Limit > 1<<40:
			return Invalid("ratelimits", "limit must be between 1 and 2^40")
		case l.Window < time.Second || l.Window > 30*24*time.Hour || l.Window%time.Second != 0:
			return Invalid("ratelimits", "window must be a whole number of seconds between 1 and 2592000")
		case l.Cost < 0 || l.Cost > l.Limit:
			return Invalid("ratelimits", "cost must be between 1 and the limit")
		}
	}
	if c := p.Credits; c != nil {
		switch {
		case c.Initial < 0 || c.Initial > 1<<50:
			return Invalid("credits", "remaining must be between 0 and 2^50")
		case c.RefillAmount < 0 || c.RefillAmount > 1<<50:
			return Invalid("credits", "the refill amount must be between 0 and 2^50")
		case c.RefillAmount > 0 && (c.RefillEvery < time.Second || c.RefillEvery > 366*24*time.Hour || c.RefillEvery%time.Second != 0):
			return Invalid("credits", "the refill interval must be a whole number of seconds between 1 and 31622400")
		case c.RefillAmount == 0 && c.RefillEvery != 0:
			return Invalid("credits", "a refill needs an amount")
		}
	}
	if len(p.AllowedIPs) > MaxAllowedIPs {
		return Invalid("allowed_ips", fmt.Sprintf("at most %d ranges", MaxAllowedIPs))
	}
	for i, pr := range p.AllowedIPs {
		if !pr.IsValid() {
			return Invalid("allowed_ips", "each must be an address or a CIDR range")
		}
		p.AllowedIPs[i] = pr.Masked()
	}
	if len(p.Metadata) > 0 {
		var obj map[string]json.RawMessage
		if json.Unmarshal(p.Metadata, &obj) != nil || obj == nil {
			return Invalid("metadata", "must be a JSON object")
		}
		var b bytes.Buffer
		if json.Compact(&b, p.Metadata) != nil || b.Len() > MaxMetadata {
			return Invalid("metadata", fmt.Sprintf("must be at most %d bytes", MaxMetadata))
		}
		p.Metadata = b.Bytes()
		if string(p.Metadata) == "{}" {
			p.Metadata = nil
		}
	}
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// AllowsAddr reports whether p lets the key be used from addr: true when
// AllowedIPs is empty. An IPv4-mapped IPv6 address is read as IPv4.
func (p *Policy) AllowsAddr(addr netip.Addr) bool {
	if len(p.AllowedIPs) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, pr := range p.AllowedIPs {
		if pr.Contains(addr) {
			return true
		}
	}
	return false
}

// KeyUpdate changes a key: each field that is not nil replaces the key's.
type KeyUpdate struct {
	Alias    *string
	Disabled *bool
	Policy   *Policy
}

// Gate enforces key policies. limits.Gate implements it; the
// authentication middleware and the token endpoints call it once a
// credential is verified. It must be safe for concurrent use.
type Gate interface {
	// Admit counts one request of key keyID, made from addr (the zero Addr
	// when unknown, which an allow-list refuses), against the key's
	// policy and its owner's limits, and says what is left. It returns an
	// error wrapping [ErrAddressNotAllowed], a [*LimitError] wrapping
	// [ErrRateLimited] or [ErrUsageExceeded], or, for a key that is
	// gone, [ErrRevoked]; any other error is the failure of a store or
	// of the counters.
	Admit(ctx context.Context, keyID string, addr netip.Addr) (Admission, error)

	// Refused records, for usage analytics, a credential refused before
	// Admit could be asked: err is what refused it, counted if it is a
	// [*KeyRefusal]. It must be quick: it is called on the request path.
	Refused(err error)
}

// Admission is what a [Gate] found for one request it let through.
type Admission struct {
	// Quotas are the rate limits the request counted against, the key's
	// first and then its owner's, with what is left of each.
	Quotas []NamedQuota
	// Credits is the balance left after this request; meaningful only
	// when Metered.
	Credits int64
	Metered bool
	// Metadata is the key's metadata (read-only: it is shared).
	Metadata json.RawMessage
	// At is when the request was counted: the quotas reset so long after.
	At time.Time
}

// NamedQuota is the state of one rate limit after a request.
type NamedQuota struct {
	Name   string
	Window time.Duration
	Quota
}

// LimitError is a request refused by a key's policy: over a rate limit
// ([ErrRateLimited], Name the limit's) or out of credits
// ([ErrUsageExceeded]). RetryAfter is when a retry may succeed (zero: not
// before the owner adds credits). It never holds a secret.
type LimitError struct {
	Err        error
	Name       string
	RetryAfter time.Duration
	Admission  Admission // the quotas as they stood, for the RateLimit header fields
}

func (e *LimitError) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("%v: %s", e.Err, e.Name)
	}
	return e.Err.Error()
}

// Unwrap returns Err.
func (e *LimitError) Unwrap() error { return e.Err }

// Clone returns a deep copy of p.
func (p Policy) Clone() Policy {
	c := Policy{RateLimits: slices.Clone(p.RateLimits), AllowedIPs: slices.Clone(p.AllowedIPs), Metadata: bytes.Clone(p.Metadata)}
	if p.Credits != nil {
		cr := *p.Credits
		c.Credits = &cr
	}
	return c
}
