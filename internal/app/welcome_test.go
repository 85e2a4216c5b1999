package app_test

import (
	"net"
	"strings"
	"testing"

	"github.com/jinjiang/residents/internal/app"
	"github.com/jinjiang/residents/internal/seed"
	"github.com/jinjiang/residents/internal/testenv"
	"github.com/jinjiang/residents/internal/voucher"
)

// TestWelcome: what `make run` prints names GraphiQL's address a browser can
// open, every demo account, and the admin's password only while it is the
// development default.
func TestWelcome(t *testing.T) {
	var b strings.Builder
	app.Welcome(&b, &net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, "admin-dev-password")
	out := b.String()
	want := []string{"http://localhost:8080/", "http://localhost:8080/graphql", "admin-dev-password"}
	for _, d := range seed.DemoAccounts {
		want = append(want, d.Username)
	}
	for _, p := range voucher.DemoProviders {
		want = append(want, p.Username)
	}
	want = append(want, app.WelcomeQueries...)
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("welcome lacks %q:\n%s", s, out)
		}
	}
	b.Reset()
	app.Welcome(&b, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9090}, "a-real-secret")
	if out := b.String(); strings.Contains(out, "a-real-secret") || !strings.Contains(out, "http://127.0.0.1:9090/") {
		t.Errorf("welcome with a set admin password on 127.0.0.1:9090:\n%s", out)
	}
}

// TestWelcomeQueriesRun: the queries the welcome suggests work as printed,
// in order: the first signs the clerk in, the others run with its token.
func TestWelcomeQueriesRun(t *testing.T) {
	e := testenv.New(t)
	r := e.MustDo(t, "", app.WelcomeQueries[0], nil)
	tok := r.Str("login.accessToken")
	if tok == "" || r.Str("login.viewer.displayName") == "" {
		t.Fatalf("login as printed: %s", r.Raw)
	}
	if r := e.MustDo(t, tok, app.WelcomeQueries[1], nil); r.Str("me.displayName") == "" {
		t.Errorf("me: %s", r.Raw)
	}
	e.InsertResident(t, testenv.ResidentSpec{}) // born 1940-1945: over 80
	if r := e.MustDo(t, tok, app.WelcomeQueries[2], nil); r.Str("residents.edges.0.node.name") == "" {
		t.Errorf("residents: %s", r.Raw)
	}
}
