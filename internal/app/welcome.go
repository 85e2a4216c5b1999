package app

import (
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/seed"
	"github.com/jinjiang/residents/internal/voucher"
)

// WelcomeQueries are the first things to try in GraphiQL, in order: sign in
// as the clerk, then two queries with the clerk's token. Welcome prints them
// and a test runs each against a seeded database, so they stay valid.
var WelcomeQueries = []string{
	`mutation { login(input: {username: "clerk", password: "` + seed.DemoPassword + `"}) { accessToken viewer { displayName roles } userErrors { code message } } }`,
	`query { me { displayName roles orgUnit { name } } }`,
	`query { residents(filter: {minAge: 80}, first: 5) { totalCount edges { node { name idNumberMasked age community { name } } } } }`,
}

// Welcome writes what `make run` shows once the development server listens
// on addr (the listener's address): where GraphiQL is, the demo accounts
// and the first queries to try. The admin's password is shown only while it
// is the development default; otherwise it names the variable holding it.
func Welcome(w io.Writer, addr net.Addr, adminPassword string) {
	base := "http://" + browsable(addr)
	adminShown := adminPassword
	if adminPassword != "admin-dev-password" {
		adminShown = "(SEED_ADMIN_PASSWORD)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n锦江区居民服务 已启动（开发模式，演示数据）\n")
	fmt.Fprintf(&b, "  GraphiQL  %s/\n  GraphQL   %s/graphql\n\n", base, base)
	fmt.Fprintf(&b, "演示账号（仅开发环境）:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", seed.Admin.Username, adminShown, roles(seed.Admin.Roles), seed.Admin.DisplayName)
	for _, d := range seed.DemoAccounts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", d.Username, seed.DemoPassword, roles(d.Roles), d.DisplayName)
	}
	for _, p := range voucher.DemoProviders {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", p.Username, seed.DemoPassword, roles(voucher.ProviderRoles), p.Name)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\n先试这几条（粘贴进 GraphiQL；登录后把 accessToken 填进 Headers: {\"Authorization\": \"Bearer <accessToken>\"}）:\n")
	for i, q := range WelcomeQueries {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, q)
	}
	fmt.Fprintf(&b, "更多示例见 README.md 的 Examples；Ctrl-C 停止。\n\n")
	io.WriteString(w, b.String())
}

// browsable turns a listener's address into one a browser on this machine
// can open: a wildcard host (":8080", "0.0.0.0", "::") becomes localhost.
func browsable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func roles(rs []auth.Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}
