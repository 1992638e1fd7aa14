package httpmw

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/authkit/authkit"
)

// Limiter counts failed credentials and refuses those who fail too often,
// in fixed windows of Window, counted twice over:
//
//   - per client address, at most Limit: IPv6 addresses grouped by /64
//     (what one host is given), the address read by Clients (behind
//     trusted proxies, the client's, not the proxy's); and
//   - per credential name, when there is one (a user name, an OAuth client
//     id), at most NameLimit, so that guesses at one account spread over
//     many addresses are counted together. It is higher than Limit so that
//     an attacker must fail that often, every window, to lock the account
//     out.
//
// A blocked address is refused only the credentials that would have to be
// looked up to be checked: an unknown key, a refresh token, a password. An
// access token (its signature is checked in memory) and a key verified
// recently (in the verified-key cache) still pass, so that a customer with
// a valid key behind the same address as an attacker is not locked out,
// while the attacker's guesses are refused unchecked.
//
// With Counters set to the replicas' shared counters (storage/redis,
// storage/postgres), the replicas allow Limit failures between them, not
// Limit each; nil counts in this process. If the Counters fail, the
// Limiter lets the request through: a lost count is better than a locked
// door. The zero value allows 10 failures a minute. A Limiter must not be
// changed once in use; it is safe for concurrent use.
type Limiter struct {
	Limit     int           // failures allowed per window per address; default 10
	NameLimit int           // failures allowed per window per credential name; default 10 × Limit
	Window    time.Duration // default 1 minute
	Counters  authkit.Counters
	Clients   *ClientAddr // nil: RemoteAddr
	Clock     authkit.Clock
	// MaxClients bounds the memory of the in-process counts (Counters
	// nil); default 100 000. When full, the oldest windows are dropped.
	MaxClients int
	// OnBlock, if set, is called with the request whose failure blocked
	// its client's address (the Limit-th failure of the window), and the
	// address as counted (an IPv6 address's /64): server.New records it in
	// the audit trail. It must be quick.
	OnBlock func(r *http.Request, addr string)
	// OnRefuse, when set, is called with each request Check refuses: a
	// hook for metrics (server.New sets it, when its Config has a
	// MeterProvider, to count authkit.limiter.refusals with reason
	// failed_credentials). It must be safe for concurrent use.
	OnRefuse func(r *http.Request)

	mu    sync.Mutex
	local map[string]*window
}

type window struct {
	start    time.Time
	failures int
}

func (l *Limiter) limits() (perAddr, perName int64, win time.Duration) {
	perAddr, perName, win = int64(l.Limit), int64(l.NameLimit), l.Window
	if perAddr <= 0 {
		perAddr = 10
	}
	if perName <= 0 {
		perName = 10 * perAddr
	}
	if win <= 0 {
		win = time.Minute
	}
	return perAddr, perName, win
}

// Check returns nil if r's client may present a credential named name
// ("" when it has none, such as an application key), or an [*Error] 429
// too_many_requests with Retry-After if the address or the name failed
// too often in the window. A nil Limiter allows everything.
func (l *Limiter) Check(r *http.Request, name string) error {
	if l == nil {
		return nil
	}
	ctx := r.Context()
	n, nn, win := l.limits()
	err := l.blocked(ctx, addrKey(l.Clients.Of(r)), n, win)
	if err == nil && name != "" {
		err = l.blocked(ctx, nameKey(name), nn, win)
	}
	if err != nil && l.OnRefuse != nil {
		l.OnRefuse(r)
	}
	return err
}

// Fail records, against r's client and the credential name ("" for
// none), a credential refused with err, if err shows a credential that is
// not one: unknown, malformed, badly signed, a wrong password. A real
// credential refused for its state (expired, or a key's revoked or disabled
// credential: an [authkit.KeyRefusal]) is an honest client's, and a server
// failure (500) is nobody's: neither counts.
func (l *Limiter) Fail(r *http.Request, name string, err error) {
	var kr *authkit.KeyRefusal
	if l == nil || errors.As(err, &kr) || errors.Is(err, authkit.ErrExpired) || ErrorFor(err).Status == http.StatusInternalServerError {
		return
	}
	ctx := r.Context()
	n, nn, win := l.limits()
	addr := addrKey(l.Clients.Of(r))
	if l.count(ctx, addr, n, win) && l.OnBlock != nil {
		l.OnBlock(r, addr[len("fail:a:"):])
	}
	if name != "" {
		l.count(ctx, nameKey(name), nn, win)
	}
}

// addrKey names the count of address a: the address, or its /64.
func addrKey(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return "fail:a:" + p.String()
	}
	return "fail:a:" + a.String()
}

// nameKey names the count of a credential name: a hash, so that user
// names are not written as they are into a shared engine.
func nameKey(name string) string {
	h := sha256.Sum256([]byte(name))
	return "fail:n:" + base64.RawURLEncoding.EncodeToString(h[:12])
}

func (l *Limiter) blocked(ctx context.Context, key string, n int64, win time.Duration) error {
	now := l.Clock.Now()
	if l.Counters != nil {
		q, err := l.Counters.Limit(ctx, key, 0, n, win, now)
		if err != nil || q.Remaining > 0 {
			return nil // the counters failed: let it through
		}
		return tooMany(q.Reset.Sub(now))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.local[key]
	if w == nil || now.Sub(w.start) >= win || int64(w.failures) < n {
		return nil
	}
	return tooMany(w.start.Add(win).Sub(now))
}

// count counts a failure against key, and reports whether it was the one
// that reached the limit.
func (l *Limiter) count(ctx context.Context, key string, n int64, win time.Duration) (reached bool) {
	now := l.Clock.Now()
	if l.Counters != nil {
		q, err := l.Counters.Limit(ctx, key, 1, n, win, now) // a failure is dropped if the counters fail
		return err == nil && q.Allowed && q.Remaining == 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.local == nil {
		l.local = make(map[string]*window)
	}
	w := l.local[key]
	if w == nil || now.Sub(w.start) >= win {
		max := l.MaxClients
		if max <= 0 {
			max = 100_000
		}
		if len(l.local) >= max {
			for k, old := range l.local { // drop expired windows, or any if none is
				if now.Sub(old.start) >= win || len(l.local) >= max {
					delete(l.local, k)
				}
				if len(l.local) < max/2 {
					break
				}
			}
		}
		start, _ := authkit.WindowOf(now, win) // fixed windows, as the Counters count
		w = &window{start: time.UnixMilli(start)}
		l.local[key] = w
	}
	w.failures++
	return int64(w.failures) == n
}

// tooMany is the 429 answer for a client blocked for d.
func tooMany(d time.Duration) *Error {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: "too many failed attempts; retry later", RetryAfter: secs}
}

// RequestID returns r's X-Request-Id if it is at most 64 printable ASCII
// characters, or else a new random one: the request id the audit trail
// records.
func RequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 && !strings.ContainsFunc(id, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		return id
	}
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
