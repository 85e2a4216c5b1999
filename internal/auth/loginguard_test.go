package auth_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/testenv"
)

func guard(t *testing.T) *auth.LoginGuard {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return auth.NewLoginGuard(rdb, fmt.Sprintf("guardtest%d:", rand.Int64()), auth.DefaultLoginLimits(1000))
}

func from(addr string) context.Context {
	return auth.WithClient(context.Background(), netip.MustParseAddr(addr))
}

func code(err error) problem.Code {
	if ues, ok := problem.AsUserErrors(err); ok && len(ues) > 0 {
		return ues[0].Code
	}
	return ""
}

// fail makes one failed attempt for user from addr and returns Admit's error.
func fail(t *testing.T, g *auth.LoginGuard, addr, user string) error {
	t.Helper()
	ctx := from(addr)
	a, err := g.Admit(ctx, user)
	if err != nil {
		return err
	}
	if err := g.Failed(ctx, a); err != nil {
		t.Fatal(err)
	}
	return nil
}

func TestPairLockLeavesOtherAddresses(t *testing.T) {
	g := guard(t)
	for i := 0; i < 5; i++ {
		if err := fail(t, g, "198.51.100.1", "Clerk"); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if err := fail(t, g, "198.51.100.1", "clerk"); code(err) != problem.TooManyAttempts {
		t.Fatalf("6th from the same address (username case aside): %v", err)
	}
	a, err := g.Admit(from("198.51.100.2"), "clerk")
	if err != nil {
		t.Fatalf("another address is locked out too: %v", err)
	}
	if err := g.Succeeded(from("198.51.100.2"), a); err != nil {
		t.Fatal(err)
	}
}

func TestClientLimitStopsSpray(t *testing.T) {
	g := guard(t)
	for i := 0; i < 20; i++ {
		if err := fail(t, g, "198.51.100.3", fmt.Sprintf("user%d", i)); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if err := fail(t, g, "198.51.100.3", "someone-else"); code(err) != problem.TooManyAttempts {
		t.Fatalf("21st username from one address: %v", err)
	}
	if err := fail(t, g, "198.51.100.4", "someone-else"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// TestSuccessGivesBack: a success returns its own reservation, so only
// failures count: four of them among twenty attempts lock nothing.
func TestSuccessGivesBack(t *testing.T) {
	g := guard(t)
	ctx := from("2001:db8::1")
	for i := 0; i < 20; i++ {
		if i%5 == 0 {
			if err := fail(t, g, "2001:db8::1", "op"); err != nil {
				t.Fatalf("failure %d: %v", i, err)
			}
			continue
		}
		a, err := g.Admit(ctx, "op")
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if err := g.Succeeded(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBackoffSparesKnownAddresses(t *testing.T) {
	g := guard(t)
	known := from("203.0.113.7")
	a, err := g.Admit(known, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Succeeded(known, a); err != nil {
		t.Fatal(err)
	}
	// Ten failures from ten addresses: no pair or client limit is reached.
	for i := 0; i < 10; i++ {
		if err := fail(t, g, fmt.Sprintf("198.51.100.%d", 10+i), "admin"); err != nil {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	// Past the threshold one unknown address gets the slot, the next waits.
	if err := fail(t, g, "198.51.100.50", "admin"); err != nil {
		t.Fatalf("first attempt past the threshold: %v", err)
	}
	if _, err := g.Admit(from("198.51.100.51"), "admin"); code(err) != problem.TooManyAttempts {
		t.Fatalf("second unknown address within the delay: %v", err)
	}
	// The known address is not subject to the backoff.
	if _, err := g.Admit(known, "admin"); err != nil {
		t.Fatalf("known-good address: %v", err)
	}
	// Nor is the username backoff anyone else's.
	if _, err := g.Admit(from("198.51.100.51"), "clerk"); err != nil {
		t.Fatalf("another username: %v", err)
	}
	if err := g.ClearUser(context.Background(), "ADMIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Admit(from("198.51.100.52"), "admin"); err != nil {
		t.Fatalf("after ClearUser: %v", err)
	}
}

func TestHashPoolBoundsAndRefuses(t *testing.T) {
	p := auth.NewHashPool(2, 50*time.Millisecond)
	hash, err := auth.HashPassword("a-long-password")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := p.Verify(context.Background(), hash, "a-long-password")
			if err != nil && !errors.Is(err, problem.ErrUnavailable) || err == nil && !ok {
				t.Errorf("verify: %v %v", ok, err)
			}
		}()
	}
	wg.Wait()
	if p.Peak() < 1 || p.Peak() > 2 {
		t.Fatalf("peak %d, size 2", p.Peak())
	}
	r1, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r2, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(context.Background(), hash, "x"); !errors.Is(err, auth.ErrHashPoolBusy) || !errors.Is(err, problem.ErrUnavailable) {
		t.Fatalf("full pool: %v", err)
	}
	r1()
	r1() // releasing twice gives back one slot only
	if _, err := p.Verify(context.Background(), hash, "x"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	// r2 still holds its slot: with the freed one taken again the pool is
	// full (a second r1 that freed r2's slot too would leave room).
	r3, err := p.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(context.Background(), hash, "x"); !errors.Is(err, auth.ErrHashPoolBusy) {
		t.Fatalf("a double release freed a second slot: %v", err)
	}
	r3()
	r2()
}

func TestCheckPassword(t *testing.T) {
	cases := []struct {
		user, pw string
		want     problem.Code
	}{
		{"clerk", "a-good-long-password", ""},
		{"admin", "admin-dev-password", ""},
		{"clerk", "short", problem.Invalid},
		{"clerk", string(make([]byte, 129)), problem.Invalid},
		{"clerk.zhang", "Clerk.Zhang", problem.WeakPassword},
		{"clerk.zhang", "clerk.zhang2024!", problem.WeakPassword},
		{"clerk", "aaaaaaaaaaaa", problem.WeakPassword},
		{"clerk", "abababababab", problem.WeakPassword},
		{"clerk", "1234567890", problem.WeakPassword},
		{"clerk", "9876543210", problem.WeakPassword},
		{"clerk", "Password123", problem.WeakPassword},
		{"clerk", "woaini1314", problem.WeakPassword},
		{"clerk", "锦江区民政局办公室密码", ""},
	}
	for _, c := range cases {
		got := auth.CheckPassword(c.user, c.pw, "input", "newPassword")
		var gc problem.Code
		if got != nil {
			gc = got.Code
			if len(got.Field) != 2 || got.Field[1] != "newPassword" {
				t.Errorf("%q: field %v", c.pw, got.Field)
			}
		}
		if gc != c.want {
			t.Errorf("CheckPassword(%q, %q) = %q, want %q", c.user, c.pw, gc, c.want)
		}
	}
}
