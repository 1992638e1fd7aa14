package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/authkit/authkit"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// policyFlags are the flags that set a key's policy, for keys create and
// keys policy.
type policyFlags struct {
	rates, ips        listFlag
	credits, metadata string
	file              string // -policy-json
	clear             bool   // keys policy only
	set               map[string]bool
}

func (p *policyFlags) register(fs *flag.FlagSet, withClear bool) {
	fs.Var(&p.rates, "rate", "a rate limit `name=limit/window[:cost]`, e.g. burst=10/1s or daily=1000/24h:2 (repeatable; none clears them)")
	fs.StringVar(&p.credits, "credits", "", "usage credits: `N` (a balance of N), or N/interval (refilled to N every interval, e.g. 1000/720h); none clears them")
	fs.Var(&p.ips, "allow-ip", "an address or `CIDR` range the key may be used from (repeatable; none clears them)")
	fs.StringVar(&p.metadata, "metadata", "", "the app's `JSON` object handed along with every request the key makes (null clears it)")
	fs.StringVar(&p.file, "policy-json", "", "read the policy from a JSON `file` (- for stdin), in the HTTP API's shape: {\"ratelimits\":[{\"name\",\"limit\",\"window_seconds\",\"cost\"}], \"credits\":{\"remaining\",\"refill\":{\"amount\",\"interval_seconds\"}}, \"allowed_ips\":[…], \"metadata\":{…}}; the members present replace the key's, null clears one; the flags above apply after it")
	if withClear {
		fs.BoolVar(&p.clear, "clear", false, "start from an empty policy (then apply the flags): -clear alone removes every limit")
	}
}

// given reports whether any policy flag was given; fs must be parsed.
func (p *policyFlags) given(fs *flag.FlagSet) bool {
	p.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { p.set[f.Name] = true })
	for _, n := range []string{"rate", "credits", "allow-ip", "metadata", "policy-json", "clear"} {
		if p.set[n] {
			return true
		}
	}
	return false
}

// apply applies the flags onto pol, and returns the credits' balance to
// set, if the flags set one. The library checks the result
// (authkit.Policy.Check) when it stores it.
func (p *policyFlags) apply(pol *authkit.Policy, stdin io.Reader) (remaining *int64, err error) {
	if p.clear {
		*pol = authkit.Policy{}
	}
	if p.file != "" {
		var b []byte
		if p.file == "-" {
			b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
		} else {
			b, err = os.ReadFile(p.file)
		}
		if err != nil {
			return nil, usagef("-policy-json: %v", err)
		}
		if remaining, err = readPolicyJSON(b, pol); err != nil {
			return nil, err
		}
	}
	if len(p.rates) > 0 {
		pol.RateLimits = nil
		for _, r := range p.rates {
			if r == "none" {
				continue
			}
			l, err := parseRate(r)
			if err != nil {
				return nil, err
			}
			pol.RateLimits = append(pol.RateLimits, l)
		}
	}
	if p.set["credits"] {
		pol.Credits = nil
		remaining = nil
		if p.credits != "none" {
			c, err := parseCredits(p.credits)
			if err != nil {
				return nil, err
			}
			pol.Credits, remaining = c, &c.Initial
		}
	}
	if len(p.ips) > 0 {
		pol.AllowedIPs = nil
		for _, s := range p.ips {
			if s == "none" {
				continue
			}
			pr, err := parsePrefix(s)
			if err != nil {
				return nil, usagef("-allow-ip %q: not an address or a CIDR range", s)
			}
			pol.AllowedIPs = append(pol.AllowedIPs, pr)
		}
	}
	if p.set["metadata"] {
		pol.Metadata = nil
		if m := strings.TrimSpace(p.metadata); m != "null" && m != "" {
			if !json.Valid([]byte(m)) {
				return nil, usagef("-metadata: not JSON")
			}
			pol.Metadata = json.RawMessage(m)
		}
	}
	return remaining, nil
}

// parseRate parses name=limit/window[:cost].
func parseRate(s string) (authkit.RateLimit, error) {
	bad := usagef("-rate %q: want name=limit/window[:cost], e.g. burst=10/1s", s)
	name, rest, ok := strings.Cut(s, "=")
	if !ok {
		return authkit.RateLimit{}, bad
	}
	lim, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return authkit.RateLimit{}, bad
	}
	win, cost, hasCost := strings.Cut(rest, ":")
	l := authkit.RateLimit{Name: name}
	var err error
	if l.Limit, err = strconv.ParseInt(lim, 10, 64); err != nil {
		return authkit.RateLimit{}, bad
	}
	if l.Window, err = parseDuration(win); err != nil {
		return authkit.RateLimit{}, bad
	}
	if hasCost {
		if l.Cost, err = strconv.ParseInt(cost, 10, 64); err != nil {
			return authkit.RateLimit{}, bad
		}
	}
	return l, nil
}

// parseCredits parses N or N/interval.
func parseCredits(s string) (*authkit.Credits, error) {
	bad := usagef("-credits %q: want N or N/interval, e.g. 1000/720h", s)
	n, every, refill := strings.Cut(s, "/")
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return nil, bad
	}
	c := &authkit.Credits{Initial: v}
	if refill {
		d, err := parseDuration(every)
		if err != nil {
			return nil, bad
		}
		c.RefillAmount, c.RefillEvery = v, d
	}
	return c, nil
}

// parseDuration is time.ParseDuration, with a number of days "Nd" too.
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 || n > 100_000 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// durationFlag is a time.Duration flag that takes "Nd" too.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return "0"
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
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

// The JSON form of a policy: the HTTP API's (package handlers), read by
// -policy-json and shown by keys show -json.
type rateJSON struct {
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

type policyJSON struct {
	RateLimits []rateJSON       `json:"ratelimits"`
	Credits    *creditsJSON     `json:"credits"`
	AllowedIPs []string         `json:"allowed_ips"`
	Metadata   *json.RawMessage `json:"metadata"`
}

// readPolicyJSON applies the members of the JSON object b onto pol.
func readPolicyJSON(b []byte, pol *authkit.Policy) (*int64, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, usagef("-policy-json: not a JSON object")
	}
	strict := func(name string, raw json.RawMessage, v any) error {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return usagef("-policy-json: %s: %v", name, err)
		}
		return nil
	}
	var remaining *int64
	for name, raw := range m {
		switch name {
		case "ratelimits":
			var ls []rateJSON
			if err := strict(name, raw, &ls); err != nil {
				return nil, err
			}
			pol.RateLimits = nil
			for _, l := range ls {
				pol.RateLimits = append(pol.RateLimits, authkit.RateLimit{Name: l.Name, Limit: l.Limit, Window: time.Duration(l.WindowSeconds) * time.Second, Cost: l.Cost})
			}
		case "credits":
			var c *creditsJSON
			if err := strict(name, raw, &c); err != nil {
				return nil, err
			}
			pol.Credits = nil
			if c != nil {
				if c.Remaining == nil {
					return nil, usagef("-policy-json: credits: remaining is required")
				}
				cr := &authkit.Credits{Initial: *c.Remaining}
				if c.Refill != nil {
					cr.RefillAmount, cr.RefillEvery = c.Refill.Amount, time.Duration(c.Refill.IntervalSeconds)*time.Second
				}
				pol.Credits, remaining = cr, c.Remaining
			}
		case "allowed_ips":
			var ips []string
			if err := strict(name, raw, &ips); err != nil {
				return nil, err
			}
			pol.AllowedIPs = nil
			for _, s := range ips {
				pr, err := parsePrefix(s)
				if err != nil {
					return nil, usagef("-policy-json: allowed_ips: %q is not an address or a CIDR range", s)
				}
				pol.AllowedIPs = append(pol.AllowedIPs, pr)
			}
		case "metadata":
			pol.Metadata = nil
			if string(raw) != "null" {
				pol.Metadata = bytes.Clone(raw)
			}
		default:
			return nil, usagef("-policy-json: unknown member %q", name)
		}
	}
	return remaining, nil
}

// showPolicy returns pol in its JSON form; remaining, when not nil, is the
// credits' balance left now.
func showPolicy(pol *authkit.Policy, remaining *int64) policyJSON {
	j := policyJSON{RateLimits: []rateJSON{}, AllowedIPs: []string{}}
	for _, l := range pol.RateLimits {
		j.RateLimits = append(j.RateLimits, rateJSON{Name: l.Name, Limit: l.Limit, WindowSeconds: int64(l.Window / time.Second), Cost: l.CostOrOne()})
	}
	if c := pol.Credits; c != nil {
		left := c.Initial
		if remaining != nil {
			left = *remaining
		}
		j.Credits = &creditsJSON{Remaining: &left}
		if c.RefillAmount > 0 {
			j.Credits.Refill = &refillJSON{Amount: c.RefillAmount, IntervalSeconds: int64(c.RefillEvery / time.Second)}
		}
	}
	for _, pr := range pol.AllowedIPs {
		j.AllowedIPs = append(j.AllowedIPs, pr.String())
	}
	md := json.RawMessage("{}")
	if len(pol.Metadata) > 0 {
		md = pol.Metadata
	}
	j.Metadata = &md
	return j
}
