package clientaddr

import (
	"net/netip"
	"testing"
)

func TestClient(t *testing.T) {
	trusted, err := ParseCIDRs("10.0.0.0/8, 192.168.1.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	r := New(trusted)
	none := New(nil)
	cases := []struct {
		name   string
		r      Resolver
		remote string
		xff    []string
		want   string
	}{
		{"no proxies trusted: header ignored", none, "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"untrusted peer: header ignored", r, "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer without header", r, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"trusted peer, one hop", r, "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"right-most untrusted, spoofed left part ignored", r, "10.1.2.3:4000", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines in order", r, "10.1.2.3:4000", []string{"1.1.1.1", "198.51.100.1", "192.168.1.7"}, "198.51.100.1"},
		{"single trusted address", r, "192.168.1.7:80", []string{"198.51.100.2"}, "198.51.100.2"},
		{"garbage behind a trusted hop stops there", r, "10.1.2.3:4000", []string{"not-an-ip, 10.4.4.4"}, "10.4.4.4"},
		{"all hops trusted", r, "10.1.2.3:4000", []string{"10.5.5.5"}, "10.5.5.5"},
		{"IPv6 peer trusted", r, "[fd00::1]:443", []string{"2001:db8::5"}, "2001:db8::5"},
		{"4-in-6 peer", r, "[::ffff:10.1.2.3]:443", []string{"198.51.100.3"}, "198.51.100.3"},
		{"hop with a port", r, "10.1.2.3:1", []string{"198.51.100.4:5555"}, "198.51.100.4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.r.Client(c.remote, c.xff); got.String() != c.want {
				t.Fatalf("got %v, want %s", got, c.want)
			}
		})
	}
	if got := r.Client("garbage", nil); got.IsValid() {
		t.Fatalf("unparseable peer: %v", got)
	}
}

func TestParseCIDRs(t *testing.T) {
	if p, err := ParseCIDRs(""); err != nil || len(p) != 0 {
		t.Fatalf("empty: %v %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "nonsense", "10.0.0.0/8,x"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestKey(t *testing.T) {
	a := Key(netip.MustParseAddr("2001:db8:1:2:aaaa::1"))
	b := Key(netip.MustParseAddr("2001:db8:1:2:bbbb::9"))
	c := Key(netip.MustParseAddr("2001:db8:1:3::1"))
	if a != b || a == c {
		t.Fatalf("IPv6 keys by /64: %s %s %s", a, b, c)
	}
	if Key(netip.MustParseAddr("198.51.100.1")) != "198.51.100.1" || Key(netip.Addr{}) != "unknown" {
		t.Fatal("IPv4 or unknown key")
	}
}
