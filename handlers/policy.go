package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/httpmw"
)

// Gate is what the handlers need of the policy gate: limits.Gate
// implements it. It must be safe for concurrent use.
type Gate interface {
	authkit.Gate
	// Credits returns what is left of k's credits, and false if k is not
	// metered.
	Credits(ctx context.Context, k *authkit.Key) (int64, bool, error)
	// SetCredits sets what is left of the credits of key keyID.
	SetCredits(ctx context.Context, keyID string, remaining int64) error
	// Usage returns the usage counts of key keyID in the buckets that
	// start in [from, to).
	Usage(ctx context.Context, keyID string, from, to time.Time) ([]authkit.UsageCount, error)
}

// The JSON form of a key's policy, as the key handlers read and show it:
//
//	"ratelimits":  [{"name": "burst", "limit": 5, "window_seconds": 10, "cost": 1}],
//	"credits":     {"remaining": 100, "refill": {"amount": 100, "interval_seconds": 86400}},
//	"allowed_ips": ["203.0.113.0/24", "2001:db8::/32"],
//	"metadata":    {"plan": "pro"}
type rateLimitJSON struct {
	Name          string `json:"name"`
	Limit         int64  `json:"limit"`
	WindowSeconds int64  `json:"window_seconds"`
	Cost          int64  `json:"cost,omitempty"`
}

type creditsJSON struct {
	Remaining *int64      `json:"remaining"`
	Refill    *refillJSON `json:"refill,omitempty"`
}

type refillJSON struct {
	Amount          int64 `json:"amount"`
	IntervalSeconds int64 `json:"interval_seconds"`
}

// policyFields are the members that make a policy.
var policyFields = []string{"ratelimits", "credits", "allowed_ips", "metadata"}

// readPolicy applies the policy members present in f onto p (null or an
// empty value clears one), and returns the credits' remaining balance if
// the client set it. changed says whether any member was present.
func (f fields) readPolicy(p *authkit.Policy) (remaining *int64, changed bool, err error) {
	if raw, ok := f["ratelimits"]; ok {
		changed = true
		var ls []rateLimitJSON
		if err := strictJSON(raw, &ls); err != nil {
			return nil, false, badRequest(`ratelimits must be an array of {"name","limit","window_seconds","cost"?}`)
		}
		p.RateLimits = nil
		for _, l := range ls {
			if l.WindowSeconds < 1 || l.WindowSeconds > 30*24*3600 {
				return nil, false, badRequest("ratelimits: window_seconds must be between 1 and 2592000")
			}
			p.RateLimits = append(p.RateLimits, authkit.RateLimit{Name: l.Name, Limit: l.Limit, Window: time.Duration(l.WindowSeconds) * time.Second, Cost: l.Cost})
		}
	}
	if raw, ok := f["credits"]; ok {
		changed = true
		var c *creditsJSON
		if err := strictJSON(raw, &c); err != nil {
			return nil, false, badRequest(`credits must be {"remaining", "refill"?: {"amount","interval_seconds"}}`)
		}
		switch {
		case c == nil:
			p.Credits = nil
		case c.Remaining == nil:
			return nil, false, badRequest("credits: remaining is required")
		default:
			cr := &authkit.Credits{Initial: *c.Remaining}
			if c.Refill != nil {
				if c.Refill.IntervalSeconds < 1 || c.Refill.IntervalSeconds > 366*24*3600 {
					return nil, false, badRequest("credits: refill.interval_seconds must be between 1 and 31622400")
				}
				cr.RefillAmount, cr.RefillEvery = c.Refill.Amount, time.Duration(c.Refill.IntervalSeconds)*time.Second
			}
			p.Credits, remaining = cr, c.Remaining
		}
	}
	if raw, ok := f["allowed_ips"]; ok {
		changed = true
		var ips []string
		if err := strictJSON(raw, &ips); err != nil {
			return nil, false, badRequest("allowed_ips must be an array of addresses or CIDR ranges")
		}
		p.AllowedIPs = nil
		for _, s := range ips {
			pr, err := parsePrefix(s)
			if err != nil {
				return nil, false, badRequest("allowed_ips: " + strings.ToValidUTF8(truncate(s, 64), "") + " is not an address or a CIDR range")
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

// strictJSON decodes raw into v, refusing unknown members.
func strictJSON(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// policyJSON is the policy part of a key as the handlers show it.
type policyJSON struct {
	RateLimits []rateLimitJSON `json:"ratelimits"`
	Credits    *creditsJSON    `json:"credits"`
	AllowedIPs []string        `json:"allowed_ips"`
	Metadata   json.RawMessage `json:"metadata"`
}

// showPolicy returns the JSON form of k's policy, with the credits left
// read from the gate when there is one.
func (e *Endpoints) showPolicy(ctx context.Context, k *authkit.Key) (policyJSON, error) {
	p := &k.Policy
	j := policyJSON{RateLimits: []rateLimitJSON{}, AllowedIPs: []string{}, Metadata: p.Metadata}
	if j.Metadata == nil {
		j.Metadata = json.RawMessage("{}")
	}
	for _, l := range p.RateLimits {
		j.RateLimits = append(j.RateLimits, rateLimitJSON{Name: l.Name, Limit: l.Limit, WindowSeconds: int64(l.Window / time.Second), Cost: l.CostOrOne()})
	}
	for _, pr := range p.AllowedIPs {
		j.AllowedIPs = append(j.AllowedIPs, pr.String())
	}
	if c := p.Credits; c != nil {
		left := c.Initial
		if e.Gate != nil {
			n, ok, err := e.Gate.Credits(ctx, k)
			if err != nil {
				return j, err
			}
			if ok {
				left = n
			}
		}
		j.Credits = &creditsJSON{Remaining: &left}
		if c.RefillAmount > 0 {
			j.Credits.Refill = &refillJSON{Amount: c.RefillAmount, IntervalSeconds: int64(c.RefillEvery / time.Second)}
		}
	}
	return j, nil
}

// admit asks the Gate, if there is one, whether key keyID may make request
// r, and sets the RateLimit header fields of the answer. On refusal it has
// answered and returns false.
func (e *Endpoints) admit(w http.ResponseWriter, r *http.Request, rs httpmw.Responder, keyID string) bool {
	if e.Gate == nil || keyID == "" {
		return true
	}
	a, err := e.Gate.Admit(r.Context(), keyID, e.Clients.Of(r))
	if err != nil {
		rs.Error(w, r, err)
		return false
	}
	httpmw.SetRateLimit(w.Header(), &a)
	return true
}

// startRefresh starts a refresh: 429 for a client blocked for failed
// credentials (a refresh token is looked up to be checked); a token of a
// grant opened by another flow refused, unspent; then admit for the key
// behind the token, before the token is spent. A token that cannot be read
// is left to the refresh itself to refuse. On refusal it has answered and
// returns false.
func (e *Endpoints) startRefresh(w http.ResponseWriter, r *http.Request, rs httpmw.Responder, rt, flow string, refused int) bool {
	if err := e.limiter().Check(r, ""); err != nil {
		rs.Error(w, r, err)
		return false
	}
	t, sess, err := e.Sessions.InspectRefreshToken(r.Context(), rt)
	if err != nil {
		return true
	}
	if sess.Name != flow {
		he := errOtherFlow
		if refused == http.StatusBadRequest {
			he = &httpmw.Error{Status: http.StatusBadRequest, Code: "invalid_grant", Description: he.Description}
		}
		rs.Error(w, r, he)
		return false
	}
	return e.admit(w, r, rs, t.KeyID)
}

// errOtherFlow refuses a refresh token at an endpoint that did not issue it.
var errOtherFlow = &httpmw.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the refresh token belongs to another endpoint", Challenge: true}

// verifyKey verifies a key presented to a token endpoint, with name the
// client id it came with ("" for none). A key verified recently passes
// even from a blocked client; any other is looked up only if neither the
// client's address nor name is blocked (429).
func (e *Endpoints) verifyKey(r *http.Request, secret, name string) (*authkit.Key, error) {
	if k, ok := e.Keys.CachedVerifyKey(secret); ok {
		return k, nil
	}
	if err := e.limiter().Check(r, name); err != nil {
		return nil, err
	}
	return e.Keys.VerifyKey(r.Context(), secret)
}
