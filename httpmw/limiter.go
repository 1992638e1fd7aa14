package httpmw

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/authkit/authkit"
)

// Limiter counts failed credentials per client address and refuses an
// address that failed too often: at most Limit failures in any Window. The
// zero value allows 10 failures a minute. It is safe for concurrent use.
type Limiter struct {
	Limit  int           // failures allowed per window; default 10
	Window time.Duration // default 1 minute
	// ClientAddr names the client of a request; default: the host of
	// RemoteAddr. Behind a proxy, set it to read the proxy's header.
	ClientAddr func(*http.Request) string
	Clock      authkit.Clock
	// MaxClients bounds the memory the limiter holds; default 100 000.
	// When full, the oldest windows are dropped.
	MaxClients int

	mu      sync.Mutex
	clients map[string]*window
}

type window struct {
	start    time.Time
	failures int
}

func (l *Limiter) limit() (int, time.Duration) {
	n, w := l.Limit, l.Window
	if n <= 0 {
		n = 10
	}
	if w <= 0 {
		w = time.Minute
	}
	return n, w
}

func (l *Limiter) addr(r *http.Request) string {
	if l.ClientAddr != nil {
		return l.ClientAddr(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Blocked returns nil if r's client may present a credential, or an
// [*Error] 429 too_many_requests with Retry-After if it failed too often
// in the window.
func (l *Limiter) Blocked(r *http.Request) error {
	if l == nil {
		return nil
	}
	n, win := l.limit()
	now := l.Clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.clients[l.addr(r)]
	if w == nil || now.Sub(w.start) >= win || w.failures < n {
		return nil
	}
	return tooMany(w.start.Add(win).Sub(now))
}

// Fail records a failed credential from r's client.
func (l *Limiter) Fail(r *http.Request) {
	if l == nil {
		return
	}
	_, win := l.limit()
	now := l.Clock.Now()
	addr := l.addr(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients = make(map[string]*window)
	}
	w := l.clients[addr]
	if w == nil || now.Sub(w.start) >= win {
		max := l.MaxClients
		if max <= 0 {
			max = 100_000
		}
		if len(l.clients) >= max {
			for k, old := range l.clients { // drop expired windows, or any if none is
				if now.Sub(old.start) >= win || len(l.clients) >= max {
					delete(l.clients, k)
				}
				if len(l.clients) < max/2 {
					break
				}
			}
		}
		w = &window{start: now}
		l.clients[addr] = w
	}
	w.failures++
}

// tooMany is the 429 answer for a client blocked for d.
func tooMany(d time.Duration) *Error {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Description: "too many failed attempts; retry later", RetryAfter: secs}
}
