// Package policyjson is the JSON form of a key's policy, one for the key
// handlers and the admin command:
//
//	"ratelimits":  [{"name": "burst", "limit": 5, "window_seconds": 10, "cost": 1}],
//	"credits":     {"remaining": 100, "refill": {"amount": 100, "interval_seconds": 86400}},
//	"allowed_ips": ["203.0.113.0/24", "2001:db8::/32"],
//	"metadata":    {"plan": "pro"}
package policyjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/authkit/authkit"
)

// RateLimit is a rate limit's JSON form.
type RateLimit struct {
	Name          string `json:"name"`
	Limit         int64  `json:"limit"`
	WindowSeconds int64  `json:"window_seconds"`
	Cost          int64  `json:"cost,omitempty"`
}

// Credits is the credits' JSON form: the balance left, and the refill.
type Credits struct {
	Remaining *int64  `json:"remaining"`
	Refill    *Refill `json:"refill,omitempty"`
}

// Refill is the credits' refill.
type Refill struct {
	Amount          int64 `json:"amount"`
	IntervalSeconds int64 `json:"interval_seconds"`
}

// Policy is a policy's JSON form, as shown.
type Policy struct {
	RateLimits []RateLimit     `json:"ratelimits"`
	Credits    *Credits        `json:"credits"`
	AllowedIPs []string        `json:"allowed_ips"`
	Metadata   json.RawMessage `json:"metadata"`
}

// Fields are the members that make a policy.
var Fields = []string{"ratelimits", "credits", "allowed_ips", "metadata"}

// Apply applies the policy members present in f onto p (null or an empty
// value clears one), and returns the credits' remaining balance if f sets
// it; changed says whether any member was present. Members not in Fields
// are left to the caller. The error says what is wrong, for a client.
func Apply(f map[string]json.RawMessage, p *authkit.Policy) (remaining *int64, changed bool, err error) {
	if raw, ok := f["ratelimits"]; ok {
		changed = true
		var ls []RateLimit
		if err := strict(raw, &ls); err != nil {
			return nil, false, errors.New(`ratelimits must be an array of {"name","limit","window_seconds","cost"?}`)
		}
		p.RateLimits = nil
		for _, l := range ls {
			if l.WindowSeconds < 1 || l.WindowSeconds > 30*24*3600 {
				return nil, false, errors.New("ratelimits: window_seconds must be between 1 and 2592000")
			}
			p.RateLimits = append(p.RateLimits, authkit.RateLimit{Name: l.Name, Limit: l.Limit, Window: time.Duration(l.WindowSeconds) * time.Second, Cost: l.Cost})
		}
	}
	if raw, ok := f["credits"]; ok {
		changed = true
		var c *Credits
		if err := strict(raw, &c); err != nil {
			return nil, false, errors.New(`credits must be {"remaining", "refill"?: {"amount","interval_seconds"}}`)
		}
		switch {
		case c == nil:
			p.Credits = nil
		case c.Remaining == nil:
			return nil, false, errors.New("credits: remaining is required")
		default:
			cr := &authkit.Credits{Initial: *c.Remaining}
			if c.Refill != nil {
				if c.Refill.IntervalSeconds < 1 || c.Refill.IntervalSeconds > 366*24*3600 {
					return nil, false, errors.New("credits: refill.interval_seconds must be between 1 and 31622400")
				}
				cr.RefillAmount, cr.RefillEvery = c.Refill.Amount, time.Duration(c.Refill.IntervalSeconds)*time.Second
			}
			p.Credits, remaining = cr, c.Remaining
		}
	}
	if raw, ok := f["allowed_ips"]; ok {
		changed = true
		var ips []string
		if err := strict(raw, &ips); err != nil {
			return nil, false, errors.New("allowed_ips must be an array of addresses or CIDR ranges")
		}
		p.AllowedIPs = nil
		for _, s := range ips {
			pr, err := ParsePrefix(s)
			if err != nil {
				if len(s) > 64 {
					s = s[:64]
				}
				return nil, false, errors.New("allowed_ips: " + strings.ToValidUTF8(s, "") + " is not an address or a CIDR range")
			}
			p.AllowedIPs = append(p.AllowedIPs, pr)
		}
	}
	if raw, ok := f["metadata"]; ok {
		changed = true
		p.Metadata = nil
		if string(raw) != "null" {
			p.Metadata = bytes.Clone(raw)
		}
	}
	return remaining, changed, nil
}

// Show returns p's JSON form; left, when not nil, is the credits' balance
// left now (else their initial amount is shown).
func Show(p *authkit.Policy, left *int64) Policy {
	j := Policy{RateLimits: []RateLimit{}, AllowedIPs: []string{}, Metadata: p.Metadata}
	if j.Metadata == nil {
		j.Metadata = json.RawMessage("{}")
	}
	for _, l := range p.RateLimits {
		j.RateLimits = append(j.RateLimits, RateLimit{Name: l.Name, Limit: l.Limit, WindowSeconds: int64(l.Window / time.Second), Cost: l.CostOrOne()})
	}
	for _, pr := range p.AllowedIPs {
		j.AllowedIPs = append(j.AllowedIPs, pr.String())
	}
	if c := p.Credits; c != nil {
		n := c.Initial
		if left != nil {
			n = *left
		}
		j.Credits = &Credits{Remaining: &n}
		if c.RefillAmount > 0 {
			j.Credits.Refill = &Refill{Amount: c.RefillAmount, IntervalSeconds: int64(c.RefillEvery / time.Second)}
		}
	}
	return j
}

// ParsePrefix reads an address or a CIDR range; an address is its own
// one-address range.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// strict decodes raw into v, refusing unknown members.
func strict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
