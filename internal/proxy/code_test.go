package proxy_test

import (
	"testing"

	"github.com/jinjiang/residents/internal/proxy"
)

func TestCodes(t *testing.T) {
	c := proxy.NewCode()
	n, ok := proxy.NormalizeCode(c)
	if !ok || len(n) != proxy.CodeLen {
		t.Fatalf("%q normalized to %q, %v", c, n, ok)
	}
	if m, ok := proxy.NormalizeCode(" " + string([]byte(c)[:3]) + " " + string([]byte(c)[3:]) + " "); !ok || m != n {
		t.Fatalf("spaces changed the code: %q", m)
	}
	for _, bad := range []string{"", "ABCDE-FGHJ", "ABCDE-FGHJK1", "ABCDE-FGHJO", "ÄBCDE-FGHJK"} {
		if _, ok := proxy.NormalizeCode(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzNormalizeCode(f *testing.F) {
	f.Add("ABCDE-FGHJK")
	f.Add("abcde fghjk")
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := proxy.NormalizeCode(s)
		if !ok {
			return
		}
		if len(n) != proxy.CodeLen {
			t.Fatalf("%q -> %q", s, n)
		}
		if again, ok := proxy.NormalizeCode(n); !ok || again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, again)
		}
	})
}
