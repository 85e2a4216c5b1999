package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const meQuery = `{ me { id displayName roles orgUnit { name kind } } }`

func TestLoginAndMe(t *testing.T) {
	e := testenv.New(t)
	tok := e.Admin(t)
	r := e.MustDo(t, tok, meQuery, nil)
	if got := r.Get("me.roles.0"); got != "ADMIN" {
		t.Fatalf("roles = %v", got)
	}
	if got := r.Str("me.orgUnit.kind"); got != "DISTRICT" {
		t.Fatalf("org unit kind = %q", got)
	}
	bad := e.MustDo(t, "", `mutation{login(input:{username:"admin",password:"wrong-password"}){accessToken userErrors{code field}}}`, nil)
	if bad.Str("login.userErrors.0.code") != "INVALID_CREDENTIALS" || bad.Get("login.accessToken") != nil {
		t.Fatalf("wrong password: %s", bad.Raw)
	}
}

// TestAccessTokenExpires: an access token stops working when it expires
// (after the 5 s leeway), whether it was used before (and so is cached as
// verified) or not.
func TestAccessTokenExpires(t *testing.T) {
	e := testenv.New(t)
	e.Clock.Set(time.Now())
	used, unused := e.Admin(t), e.Admin(t)
	if r := e.Do(t, used, meQuery, nil); r.ErrorCode() != "" {
		t.Fatalf("fresh token: %s", r.Raw)
	}
	e.Clock.Advance(e.Config.AccessTokenTTL + 2*time.Second)
	if r := e.Do(t, used, meQuery, nil); r.ErrorCode() != "" {
		t.Fatalf("within the leeway: %s", r.Raw)
	}
	e.Clock.Advance(4 * time.Second)
	for name, tok := range map[string]string{"used before": used, "never used": unused} {
		if r := e.Do(t, tok, meQuery, nil); r.ErrorCode() != "UNAUTHENTICATED" {
			t.Errorf("%s, expired: want UNAUTHENTICATED, got %s", name, r.Raw)
		}
	}
}

func TestLoginThrottleCountsAliases(t *testing.T) {
	e := testenv.New(t)
	var b strings.Builder
	b.WriteString("mutation{")
	for i := 0; i < 6; i++ {
		fmt.Fprintf(&b, `a%d: login(input:{username:"clerk",password:"guess-%d"}){userErrors{code}} `, i, i)
	}
	b.WriteString("}")
	r := e.MustDo(t, "", b.String(), nil)
	for i := 0; i < 5; i++ {
		if c := r.Str(fmt.Sprintf("a%d.userErrors.0.code", i)); c != "INVALID_CREDENTIALS" {
			t.Fatalf("attempt %d: %s", i, c)
		}
	}
	if c := r.Str("a5.userErrors.0.code"); c != "TOO_MANY_ATTEMPTS" {
		t.Fatalf("6th attempt: %s (%s)", c, r.Raw)
	}
	// The right password is refused too until the window passes.
	ok := e.MustDo(t, "", `mutation{login(input:{username:"clerk",password:"demo-password"}){accessToken userErrors{code}}}`, nil)
	if ok.Str("login.userErrors.0.code") != "TOO_MANY_ATTEMPTS" || ok.Get("login.accessToken") != nil {
		t.Fatalf("locked account signed in: %s", ok.Raw)
	}
	// Another username is not affected.
	if tok := e.As(t, "operator"); tok == "" {
		t.Fatal("operator locked out by clerk's throttle")
	}
}

const refreshMutation = `mutation($t:String!){refreshSession(refreshToken:$t){accessToken refreshToken userErrors{code}}}`

func TestRefreshRotatesAndReuseRevokesFamily(t *testing.T) {
	e := testenv.New(t)
	login := e.MustDo(t, "", `mutation{login(input:{username:"clerk",password:"demo-password"}){accessToken refreshToken}}`, nil)
	rt1 := login.Str("login.refreshToken")
	r := e.MustDo(t, "", refreshMutation, map[string]any{"t": rt1})
	access2, rt2 := r.Str("refreshSession.accessToken"), r.Str("refreshSession.refreshToken")
	if access2 == "" || rt2 == "" || rt2 == rt1 {
		t.Fatalf("refresh did not rotate: %s", r.Raw)
	}
	if e.Do(t, access2, meQuery, nil).ErrorCode() != "" {
		t.Fatal("new access token refused")
	}
	// Replaying the used token revokes the family: the new tokens die too.
	replay := e.MustDo(t, "", refreshMutation, map[string]any{"t": rt1})
	if replay.Str("refreshSession.userErrors.0.code") != "INVALID_CREDENTIALS" {
		t.Fatalf("replay: %s", replay.Raw)
	}
	if e.Do(t, access2, meQuery, nil).ErrorCode() != "UNAUTHENTICATED" {
		t.Fatal("access token of a revoked family still works")
	}
	if got := e.MustDo(t, "", refreshMutation, map[string]any{"t": rt2}).Str("refreshSession.userErrors.0.code"); got != "INVALID_CREDENTIALS" {
		t.Fatalf("successor refresh token still works: %s", got)
	}
}

func TestConcurrentRefreshRotatesOnce(t *testing.T) {
	e := testenv.New(t)
	rt := e.MustDo(t, "", `mutation{login(input:{username:"clerk",password:"demo-password"}){refreshToken}}`, nil).Str("login.refreshToken")
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.Do(t, "", refreshMutation, map[string]any{"t": rt})
			if r.Str("refreshSession.accessToken") != "" {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent refreshes succeeded, want exactly 1", wins)
	}
}

func TestLogoutEndsSessionOnEveryInstance(t *testing.T) {
	prefix := fmt.Sprintf("shared%d:", time.Now().UnixNano())
	a := testenv.New(t, testenv.SharedPrefix(prefix))
	b := testenv.New(t, testenv.SharedPrefix(prefix))
	tok := a.As(t, "operator")
	if b.Do(t, tok, meQuery, nil).ErrorCode() != "" {
		t.Fatal("instance B does not accept A's session")
	}
	if r := a.MustDo(t, tok, `mutation{logout}`, nil); r.Get("logout") != true {
		t.Fatalf("logout: %s", r.Raw)
	}
	if b.Do(t, tok, meQuery, nil).ErrorCode() != "UNAUTHENTICATED" {
		t.Fatal("instance B still accepts a logged-out session")
	}
}

func TestDeactivatedUserIsSignedOut(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	admin := e.Admin(t)
	district := e.MustDo(t, admin, `{orgUnits(kind:DISTRICT){id}}`, nil).Str("orgUnits.0.id")
	created := e.MustDo(t, admin, `mutation($o:ID!){createStaffUser(input:{username:"temp.clerk",password:"long-enough-pw",displayName:"临时",roles:[CLERK],orgUnitId:$o}){user{id active} userErrors{code}}}`,
		map[string]any{"o": district})
	uid := created.Str("createStaffUser.user.id")
	tok := e.Login(t, "temp.clerk", "long-enough-pw")
	r := e.MustDo(t, admin, `mutation($id:ID!){setStaffUserActive(id:$id,active:false){user{active} userErrors{code}}}`, map[string]any{"id": uid})
	if r.Get("setStaffUserActive.user.active") != false {
		t.Fatalf("deactivate: %s", r.Raw)
	}
	if e.Do(t, tok, meQuery, nil).ErrorCode() != "UNAUTHENTICATED" {
		t.Fatal("deactivated user's token still works")
	}
	again := e.MustDo(t, "", `mutation{login(input:{username:"temp.clerk",password:"long-enough-pw"}){accessToken userErrors{code}}}`, nil)
	if again.Str("login.userErrors.0.code") != "INVALID_CREDENTIALS" {
		t.Fatalf("deactivated user signed in: %s", again.Raw)
	}
}

func TestCreateStaffUser(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	admin := e.Admin(t)
	street := e.MustDo(t, admin, `{orgUnits(kind:STREET){id name}}`, nil).Str("orgUnits.0.id")
	const m = `mutation($in:CreateStaffUserInput!){createStaffUser(input:$in){user{id username roles orgUnit{id}} userErrors{code field}}}`
	in := func(username, pw string, roles ...string) map[string]any {
		return map[string]any{"in": map[string]any{"username": username, "password": pw, "displayName": "测试", "roles": roles, "orgUnitId": street}}
	}
	ok := e.MustDo(t, admin, m, in("street.worker", "a-good-password", "CASE_WORKER"))
	if ok.Str("createStaffUser.user.orgUnit.id") != street || ok.Str("createStaffUser.user.roles.0") != "CASE_WORKER" {
		t.Fatalf("create: %s", ok.Raw)
	}
	cases := []struct {
		name, username, pw string
		roles              []string
		code, field        string
	}{
		{"duplicate username", "Street.Worker", "a-good-password", []string{"CLERK"}, "DUPLICATE", "username"},
		{"short password", "new.one", "short", []string{"CLERK"}, "INVALID", "password"},
		{"bad username", "no spaces allowed", "a-good-password", []string{"CLERK"}, "INVALID", "username"},
		{"resident role", "new.two", "a-good-password", []string{"RESIDENT"}, "INVALID", "roles"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.MustDo(t, admin, m, in(c.username, c.pw, c.roles...))
			if r.Str("createStaffUser.userErrors.0.code") != c.code || r.Str("createStaffUser.userErrors.0.field.1") != c.field || r.Get("createStaffUser.user") != nil {
				t.Fatalf("got %s", r.Raw)
			}
		})
	}
	for _, who := range []string{"clerk", "caseworker", "operator", "auditor", "telephony"} {
		r := e.Do(t, e.As(t, who), m, in("x."+who, "a-good-password", "CLERK"))
		if r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("%s created a staff user: %s", who, r.Raw)
		}
	}
	var n int64
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM users WHERE username LIKE 'x.%'", nil, &n)
	if n != 0 {
		t.Fatalf("%d forbidden users were written", n)
	}
}

func TestRedisDownFailsClosed(t *testing.T) {
	prefix := fmt.Sprintf("down%d:", time.Now().UnixNano())
	up := testenv.New(t, testenv.SharedPrefix(prefix))
	tok := up.Admin(t)
	down := testenv.New(t, testenv.SharedPrefix(prefix), testenv.WithConfig(func(c *config.Config) {
		c.RedisURL = "redis://127.0.0.1:1/0"
	}))
	r := down.Do(t, tok, meQuery, nil)
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	resp, err := http.Get(down.Server.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with Redis down", resp.StatusCode)
	}
	// Signing in needs the throttle in Redis: it fails closed too.
	login := down.Do(t, "", `mutation{login(input:{username:"admin",password:"x"}){accessToken}}`, nil)
	if login.ErrorCode() != "SERVICE_UNAVAILABLE" || login.Status != http.StatusServiceUnavailable {
		t.Fatalf("login with Redis down: %d %s", login.Status, login.Raw)
	}
}

// TestThreeInstancesShareSessionsAndThrottles runs three instances of one
// deployment on one Postgres and Redis: a session works on all of them,
// failed logins count across them, and logout on one ends it everywhere.
func TestThreeInstancesShareSessionsAndThrottles(t *testing.T) {
	prefix := fmt.Sprintf("three%d:", time.Now().UnixNano())
	nodes := []*testenv.Env{testenv.New(t, testenv.SharedPrefix(prefix)), testenv.New(t, testenv.SharedPrefix(prefix)), testenv.New(t, testenv.SharedPrefix(prefix))}
	tok := nodes[0].As(t, "caseworker")
	for i, n := range nodes {
		if n.Do(t, tok, meQuery, nil).ErrorCode() != "" {
			t.Fatalf("instance %d refuses the session", i)
		}
	}
	for i := 0; i < 5; i++ {
		r := nodes[i%3].MustDo(t, "", `mutation{login(input:{username:"auditor",password:"wrong-guess"}){userErrors{code}}}`, nil)
		if r.Str("login.userErrors.0.code") != "INVALID_CREDENTIALS" {
			t.Fatalf("guess %d: %s", i, r.Raw)
		}
	}
	for i, n := range nodes {
		r := n.MustDo(t, "", `mutation{login(input:{username:"auditor",password:"demo-password"}){accessToken userErrors{code}}}`, nil)
		if r.Str("login.userErrors.0.code") != "TOO_MANY_ATTEMPTS" {
			t.Fatalf("instance %d let the throttled account in: %s", i, r.Raw)
		}
	}
	nodes[2].MustDo(t, tok, `mutation{logout}`, nil)
	for i, n := range nodes {
		if n.Do(t, tok, meQuery, nil).ErrorCode() != "UNAUTHENTICATED" {
			t.Fatalf("instance %d still accepts the ended session", i)
		}
	}
}

// TestChangeAndResetPasswordEndSessions: changing one's own password and an
// administrator's reset both end every session of the account (access
// tokens at once, refresh tokens revoked), are audited, and apply the
// password rules; changePassword hands the caller a new session.
func TestChangeAndResetPasswordEndSessions(t *testing.T) {
	e := testenv.New(t, testenv.OwnDatabase(t))
	admin := e.Admin(t)
	street := e.MustDo(t, admin, `{orgUnits(kind:STREET){id}}`, nil).Str("orgUnits.0.id")
	uid := e.MustDo(t, admin, `mutation($o:ID!){createStaffUser(input:{username:"pw.clerk",password:"first-password-1",displayName:"改密",roles:[CLERK],orgUnitId:$o}){user{id} userErrors{code}}}`,
		map[string]any{"o": street}).Str("createStaffUser.user.id")
	const lg = `mutation($p:String!){login(input:{username:"pw.clerk",password:$p}){accessToken refreshToken userErrors{code}}}`
	const change = `mutation($c:String!,$n:String!){changePassword(input:{currentPassword:$c,newPassword:$n}){accessToken refreshToken viewer{id} userErrors{code field}}}`
	const reset = `mutation($id:ID!,$n:String!){resetPassword(input:{userId:$id,newPassword:$n}){user{id username} userErrors{code field}}}`
	a := e.MustDo(t, "", lg, map[string]any{"p": "first-password-1"})
	b := e.MustDo(t, "", lg, map[string]any{"p": "first-password-1"})
	tokA, tokB, rtB := a.Str("login.accessToken"), b.Str("login.accessToken"), b.Str("login.refreshToken")

	for _, c := range []struct{ current, next, code, field string }{
		{"wrong-password-1", "second-password-2", "INVALID_CREDENTIALS", "currentPassword"},
		{"first-password-1", "short", "INVALID", "newPassword"},
		{"first-password-1", "pw.clerk123", "WEAK_PASSWORD", "newPassword"},
		{"first-password-1", "1234567890", "WEAK_PASSWORD", "newPassword"},
		{"first-password-1", "first-password-1", "WEAK_PASSWORD", "newPassword"},
	} {
		r := e.MustDo(t, tokA, change, map[string]any{"c": c.current, "n": c.next})
		if r.Str("changePassword.userErrors.0.code") != c.code || r.Str("changePassword.userErrors.0.field.1") != c.field || r.Get("changePassword.accessToken") != nil {
			t.Fatalf("%s -> %s: %s", c.current, c.next, r.Raw)
		}
	}
	if e.Do(t, tokB, meQuery, nil).ErrorCode() != "" {
		t.Fatal("a refused change ended a session")
	}
	ok := e.MustDo(t, tokA, change, map[string]any{"c": "first-password-1", "n": "second-password-2"})
	fresh := ok.Str("changePassword.accessToken")
	if fresh == "" || ok.Str("changePassword.viewer.id") != uid {
		t.Fatalf("change: %s", ok.Raw)
	}
	for name, tok := range map[string]string{"the changing session": tokA, "another session": tokB} {
		if e.Do(t, tok, meQuery, nil).ErrorCode() != "UNAUTHENTICATED" {
			t.Fatalf("%s survived the change", name)
		}
	}
	if r := e.MustDo(t, "", refreshMutation, map[string]any{"t": rtB}); r.Str("refreshSession.userErrors.0.code") != "INVALID_CREDENTIALS" {
		t.Fatalf("an old refresh token still works: %s", r.Raw)
	}
	if e.Do(t, fresh, meQuery, nil).ErrorCode() != "" {
		t.Fatal("the new session does not work")
	}
	if r := e.MustDo(t, "", lg, map[string]any{"p": "first-password-1"}); r.Str("login.userErrors.0.code") != "INVALID_CREDENTIALS" {
		t.Fatalf("the old password still works: %s", r.Raw)
	}

	// The administrator resets it: the fresh session ends too.
	if r := e.Do(t, e.As(t, "clerk"), reset, map[string]any{"id": uid, "n": "third-password-3"}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("a clerk reset a password: %s", r.Raw)
	}
	if r := e.MustDo(t, admin, reset, map[string]any{"id": uid, "n": "PW.CLERK.2026"}); r.Str("resetPassword.userErrors.0.code") != "WEAK_PASSWORD" {
		t.Fatalf("weak reset: %s", r.Raw)
	}
	r := e.MustDo(t, admin, reset, map[string]any{"id": uid, "n": "third-password-3"})
	if r.Str("resetPassword.user.username") != "pw.clerk" || r.Get("resetPassword.userErrors.0") != nil {
		t.Fatalf("reset: %s", r.Raw)
	}
	if e.Do(t, fresh, meQuery, nil).ErrorCode() != "UNAUTHENTICATED" {
		t.Fatal("a session survived the reset")
	}
	if e.Login(t, "pw.clerk", "third-password-3") == "" {
		t.Fatal("the reset password does not work")
	}
	// Both are audited, about the account, without the password.
	var n int64
	testenv.MustScan(t, e.DB, `SELECT count(*) FROM audit_log WHERE action IN ('changePassword','resetPassword') AND entity = 'StaffUser'
		AND entity_id = (SELECT id FROM users WHERE username = 'pw.clerk') AND coalesce(detail::text, '') NOT LIKE '%password-%'`, nil, &n)
	if n != 2 {
		t.Fatalf("%d audit entries for the change and the reset", n)
	}
}
