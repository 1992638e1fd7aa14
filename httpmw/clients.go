package httpmw

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr tells the address of a request's client, for key allow-lists
// and the failed-credential [Limiter]. The zero value (and a nil
// *ClientAddr) reads the request's RemoteAddr. Behind reverse proxies, list
// their addresses in TrustedProxies: a request that comes from one of them
// is read from its forwarding header instead, right to left, skipping the
// trusted proxies, so that a client cannot choose its own address by
// sending the header itself. A request from anywhere else is read from
// RemoteAddr, whatever headers it sends.
type ClientAddr struct {
	TrustedProxies []netip.Prefix
	// Header is the forwarding header the proxies append to; default
	// "X-Forwarded-For".
	Header string
}

// Of returns the client address of r, IPv4-mapped addresses unmapped; the
// zero Addr if RemoteAddr holds none.
func (c *ClientAddr) Of(r *http.Request) netip.Addr {
	peer := remoteAddr(r.RemoteAddr)
	if c == nil || len(c.TrustedProxies) == 0 || !c.trusted(peer) {
		return peer
	}
	h := c.Header
	if h == "" {
		h = "X-Forwarded-For"
	}
	vals := r.Header.Values(h)
	for i := len(vals) - 1; i >= 0; i-- {
		rest := vals[i]
		for rest != "" {
			var hop string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				hop, rest = rest[j+1:], rest[:j]
			} else {
				hop, rest = rest, ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(hop))
			if err != nil {
				return peer // a hop we cannot read: trust nothing beyond it
			}
			if a = a.Unmap(); !c.trusted(a) {
				return a
			}
			peer = a
		}
	}
	return peer // every hop was a trusted proxy
}

func (c *ClientAddr) trusted(a netip.Addr) bool {
	for _, p := range c.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// remoteAddr parses a RemoteAddr ("host:port", or a bare host).
func remoteAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(s)
	return a.Unmap()
}
