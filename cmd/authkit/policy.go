package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authkit/authkit"
	"github.com/authkit/authkit/internal/policyjson"
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
			pr, err := policyjson.ParsePrefix(s)
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

// readPolicyJSON applies the members of the JSON object b onto pol, as
// the key handlers read them (internal/policyjson).
func readPolicyJSON(b []byte, pol *authkit.Policy) (*int64, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, usagef("-policy-json: not a JSON object")
	}
	for name := range m {
		if !slices.Contains(policyjson.Fields, name) {
			return nil, usagef("-policy-json: unknown member %q", name)
		}
	}
	remaining, _, err := policyjson.Apply(m, pol)
	if err != nil {
		return nil, usagef("-policy-json: %v", err)
	}
	return remaining, nil
}
