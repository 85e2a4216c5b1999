// Package clientaddr decides which address a request comes from: the one
// place every per-client throttle (login, wechatLogin, bindResident) takes
// its key from. The HTTP edge (internal/app) resolves it once per request
// and puts it in the context (auth.WithClient); nothing else reads
// RemoteAddr or X-Forwarded-For.
//
// X-Forwarded-For is believed only as far as it was written by proxies we
// trust (TRUSTED_PROXY_CIDRS): starting from the TCP peer, while the
// address at hand is a trusted proxy, step one entry left in the header;
// the first untrusted address is the client. Anything further left was
// written by the client itself and is ignored. With no trusted proxies
// (the default) the header is ignored entirely.
package clientaddr

import (
	"fmt"
	"net/netip"
	"strings"
)

// Resolver picks the client address of a request.
type Resolver struct {
	trusted []netip.Prefix
}

// ParseCIDRs reads a comma-separated list of CIDRs (or single addresses,
// taken as /32 or /128). An empty list trusts nobody.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR or an address", part)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", part)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// New returns a resolver that believes X-Forwarded-For from peers in trusted.
func New(trusted []netip.Prefix) Resolver { return Resolver{trusted: trusted} }

func (r Resolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client returns the client address of a request whose TCP peer is
// remoteAddr ("host:port", as net/http gives it) and whose X-Forwarded-For
// header lines are xff (in the order received). The zero Addr means the
// peer itself could not be parsed.
func (r Resolver) Client(remoteAddr string, xff []string) netip.Addr {
	peer := parseHost(remoteAddr)
	if !peer.IsValid() || len(r.trusted) == 0 || !r.isTrusted(peer) {
		return peer
	}
	var hops []string
	for _, line := range xff {
		hops = append(hops, strings.Split(line, ",")...)
	}
	cur := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseHost(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			// A trusted proxy wrote something that is no address: stop at
			// the last hop we could read rather than guess further left.
			return cur
		}
		cur = a
		if !r.isTrusted(a) {
			return a
		}
	}
	// Every hop is a trusted proxy (e.g. a health check from inside): the
	// left-most is as close to a client as there is.
	return cur
}

// parseHost reads "1.2.3.4", "1.2.3.4:5", "[::1]:5" or "::1".
func parseHost(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// Key is the throttling key of a client address: an IPv4 address itself,
// an IPv6 address by its /64 (one subscriber gets a whole /64 and can
// rotate through it freely). The zero Addr is "unknown", one shared bucket.
func Key(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	default:
		p, _ := a.Prefix(64)
		return p.String()
	}
}
