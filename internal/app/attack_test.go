package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/app"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/idnumber"
	"github.com/jinjiang/residents/internal/seed"
	"github.com/jinjiang/residents/internal/testenv"
)

// attack is one case of the suite: an input an attacker controls, the exact
// answer it must get, and proof that it changed nothing.
type attack struct {
	name string
	// setup prepares what the attack needs (a token, a used code) before
	// the "nothing changed" snapshot is taken; its result is passed to run.
	setup func(t *testing.T, s *suite) string
	run   func(t *testing.T, s *suite, arg string) *testenv.Response
	// status is the HTTP status, or for a websocket the close code.
	status int
	// code is extensions.code of the first error; userError, when set, is
	// the path of the payload's userErrors code and code its value.
	code      string
	userError string
	// msg, when set, must be part of the first error's message (which
	// limit refused it).
	msg string
	// audit is how many audit entries the refused attempt writes (a
	// refused look-up by ID number is still audited).
	audit int
	// check asserts more (the session still works, nothing echoed).
	check func(t *testing.T, s *suite, r *testenv.Response)
}

// suite is the world the attacks run against.
type suite struct {
	*world
	prod                       *testenv.Env
	prodAdmin                  string
	fake                       *testenv.FakeWechat
	admin, clerk, prov1, prov2 string
	// category is one provider1 offers; foreignCategory one provider2 does not.
	category, foreignCategory string
	xResident                 testenv.Resident
	adminClaims               jwt.MapClaims
	lookupProber              string
	// arg is the current case's setup result.
	arg string
}

// invariants are the counts and sums no refused attack may change.
var invariants = []string{
	"SELECT count(*) FROM residents",
	"SELECT count(*) FROM emergency_contacts",
	"SELECT count(*) FROM users",
	"SELECT count(*) FROM users WHERE active",
	"SELECT count(*) FROM wechat_accounts",
	"SELECT count(*) FROM wechat_accounts WHERE resident_id IS NOT NULL",
	"SELECT count(*) FROM refresh_tokens",
	"SELECT count(*) FROM providers",
	"SELECT count(*) FROM voucher_programs",
	"SELECT count(*) FROM voucher_program_rules",
	"SELECT count(*) FROM vouchers",
	"SELECT coalesce(sum(balance_fen), 0) FROM vouchers",
	"SELECT count(*) FROM redemptions",
	"SELECT count(*) FROM redemption_keys",
	"SELECT count(*) FROM voucher_ledger",
	"SELECT count(*) FROM applications",
	"SELECT count(*) FROM emergency_calls",
	"SELECT count(*) FROM audit_log",
}

// snapshot reads the invariants.
func snapshot(t *testing.T, e *testenv.Env) []int64 {
	t.Helper()
	out := make([]int64, len(invariants))
	for i, q := range invariants {
		if err := e.DB.Raw(q).Row().Scan(&out[i]); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return out
}

// gql is an attack that sends one document as the named role of the suite.
func gql(query string, vars map[string]any) func(tok string) func(*testing.T, *suite, string) *testenv.Response {
	return func(tok string) func(*testing.T, *suite, string) *testenv.Response {
		return func(t *testing.T, s *suite, _ string) *testenv.Response { return s.e.Do(t, s.tok(t, tok), query, vars) }
	}
}

// suggestion is an attack that misspells a name in production and must
// not be told the real one ("Did you mean …").
func suggestion(what, doc, real string) attack {
	return attack{name: what + " suggestions in production", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
		return s.prod.Do(t, s.prodAdmin, doc, nil)
	}, status: 200, code: "GRAPHQL_VALIDATION_FAILED", check: func(t *testing.T, _ *suite, r *testenv.Response) {
		if strings.Contains(string(r.Raw), "Did you mean") || strings.Contains(string(r.Raw), `\"`+real+`\"`) {
			t.Fatalf("suggests a %s: %s", what, r.Raw)
		}
	}}
}

// tok maps a role name of the suite to its token.
func (s *suite) tok(t *testing.T, who string) string {
	switch who {
	case "":
		return ""
	case "admin":
		return s.admin
	case "clerk":
		return s.clerk
	case "provider1":
		return s.prov1
	case "provider2":
		return s.prov2
	}
	t.Fatalf("unknown role %q", who)
	return ""
}

// raw sends a request with a raw body and content type.
func (s *suite) raw(t *testing.T, method, contentType string, body io.Reader, length int64, tok string) *testenv.Response {
	t.Helper()
	req, _ := http.NewRequest(method, s.e.Server.URL+"/graphql", body)
	req.ContentLength = length
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return s.e.Send(t, req)
}

// token makes a fresh single-use redemption token for the world's resident.
func (s *suite) token(t *testing.T) string {
	t.Helper()
	tok := s.e.MustDo(t, s.clerk, `mutation($p:ID!,$r:ID){createRedemptionToken(programId:$p,residentId:$r){token userErrors{code}}}`,
		map[string]any{"p": s.program, "r": s.resident}).Str("createRedemptionToken.token")
	if tok == "" {
		t.Fatal("no redemption token")
	}
	return tok
}

const redeemDoc = `mutation($in:RedeemVoucherInput!){redeemVoucher(input:$in){redemption{id} remainingBalanceFen userErrors{code field message}}}`

func (s *suite) redeem(token string, amount any, category, key string) map[string]any {
	if category == "" {
		category = s.category
	}
	return map[string]any{"in": map[string]any{"token": token, "category": category, "amountFen": amount,
		"serviceDate": civil.DateOf(time.Now()).String(), "idempotencyKey": key}}
}

// sessionAlive fails the test when tok no longer works on e.
func sessionAlive(t *testing.T, e *testenv.Env, tok string) {
	t.Helper()
	if r := e.Do(t, tok, meQuery, nil); r.ErrorCode() != "" || r.Str("me.id") == "" {
		t.Fatalf("the session stopped working: %s", r.Raw)
	}
}

// idWithX returns a valid ID number ending in X.
func idWithX(t *testing.T) string {
	for i := 0; i < 10000; i++ {
		birth := time.Date(1930+rand.IntN(15), time.Month(1+rand.IntN(12)), 1+rand.IntN(28), 0, 0, 0, 0, time.UTC)
		n := idnumber.Generate("510104", birth, rand.IntN(1000), idnumber.Female)
		if strings.HasSuffix(n, "X") {
			return n
		}
	}
	t.Fatal("no ID number with X")
	return ""
}

func newSuite(t *testing.T) *suite {
	fake := testenv.NewFakeWechat(t)
	own := testenv.OwnDatabase(t) // the production instance below shares it
	w := buildWorld(t, own, testenv.WithWechat(fake), testenv.TrustLocalProxy())
	e := w.e
	s := &suite{world: w, fake: fake, admin: e.Admin(t), clerk: e.As(t, "clerk"), prov1: e.As(t, "provider1"), prov2: e.As(t, "provider2")}
	s.prod = testenv.New(t, own, testenv.WithConfig(func(c *config.Config) { c.Env = "production" }))
	s.prodAdmin = s.prod.Admin(t)
	s.category = e.MustDo(t, s.prov1, `{me{provider{categories}}}`, nil).Str("me.provider.categories.0")
	offered := map[string]bool{}
	for _, c := range e.MustDo(t, s.prov2, `{me{provider{categories}}}`, nil).Get("me.provider.categories").([]any) {
		offered[c.(string)] = true
	}
	for _, c := range []string{"MEAL", "BATHING", "CLEANING", "MEDICAL_ESCORT", "REHABILITATION", "DAY_CARE"} {
		if !offered[c] {
			s.foreignCategory = c
			break
		}
	}
	if s.foreignCategory == "" {
		t.Fatal("provider2 offers every category")
	}
	s.xResident = e.InsertResident(t, testenv.ResidentSpec{Name: "带X居民", IDNumber: idWithX(t), Phone: "13800002345"})
	parsed, _, err := jwt.NewParser().ParseUnverified(s.admin, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	s.adminClaims = parsed.Claims.(jwt.MapClaims)
	s.lookupProber = e.As(t, "auditor")
	return s
}

// claims returns the admin token's claims with k set to v (deleted when v is nil).
func (s *suite) claims(k string, v any) jwt.MapClaims {
	c := jwt.MapClaims{}
	for kk, vv := range s.adminClaims {
		c[kk] = vv
	}
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

// TestAttackSuite runs every attack through the HTTP handler against the
// real Postgres and Redis and checks the exact refusal and that nothing
// changed. The IDOR matrix over node(id:) is TestNodeIDORMatrix.
func TestAttackSuite(t *testing.T) {
	s := newSuite(t)
	cases := append(append(append(append(requestAttacks(), tokenAttacks()...), identityAttacks()...), idNumberAttacks()...), moneyAttacks()...)
	cases = append(cases, websocketAttacks()...)
	cases = append(cases, enumAttacks()...)
	cases = append(cases, nulAttacks()...)
	cases = append(cases, costAttacks()...)
	cases = append(cases, staffAttacks()...)
	cases = append(cases, loginAttacks()...)
	cases = append(cases, issuanceAttacks()...)
	if len(cases) < 30 {
		t.Fatalf("only %d attacks", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var arg string
			if c.setup != nil {
				arg = c.setup(t, s)
			}
			s.arg = arg
			before := snapshot(t, s.e)
			r := c.run(t, s, arg)
			if r.Status != c.status {
				t.Errorf("status %d, want %d: %.400s", r.Status, c.status, r.Raw)
			}
			got := r.ErrorCode()
			if c.userError != "" {
				got = r.Str(c.userError)
				if len(r.Errors) > 0 {
					t.Errorf("GraphQL errors besides the userError: %.400s", r.Raw)
				}
			}
			if got != c.code {
				t.Errorf("code %q, want %q: %.400s", got, c.code, r.Raw)
			}
			if c.msg != "" && (len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, c.msg)) {
				t.Errorf("message does not say %q: %.400s", c.msg, r.Raw)
			}
			after := snapshot(t, s.e)
			before[len(before)-1] += int64(c.audit)
			for i := range invariants {
				if before[i] != after[i] {
					t.Errorf("changed: %s: %d -> %d", invariants[i], before[i], after[i])
				}
			}
			if c.check != nil {
				c.check(t, s, r)
			}
		})
	}
	t.Logf("%d attacks", len(cases))
}

func requestAttacks() []attack {
	deep := "{ orgUnits { " + strings.Repeat("children { ", 14) + "id" + strings.Repeat(" }", 14) + " } }"
	var aliases strings.Builder
	aliases.WriteString("{ ")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&aliases, "a%d: me { id } ", i)
	}
	aliases.WriteString("}")
	directives := "{ me { " + strings.Repeat("id @include(if: true) ", 30) + "} }"
	tokens := "{ me { " + strings.Repeat("id ", 20000) + "} }"
	wide := `{ a: auditLog(first: 100) { edges { node { action } } } b: orgUnits { children { children { children { children { id } } } } } }`
	noData := func(t *testing.T, _ *suite, r *testenv.Response) {
		if len(r.Data) > 0 {
			t.Fatalf("executed: %.300s", r.Raw)
		}
	}
	big := func(n int) string {
		return `{"query":"{ me { id } }","variables":{"pad":"` + strings.Repeat("x", n) + `"}}`
	}
	const idNumber = "11010519491231002X"
	logoutStillAlive := func(t *testing.T, s *suite, r *testenv.Response) {
		if r.Get("logout") != nil {
			t.Fatalf("logout ran: %s", r.Raw)
		}
		sessionAlive(t, s.e, s.admin)
	}
	return []attack{
		{name: "depth flood", msg: "查询深度", run: gql(deep, nil)("admin"), status: 200, code: "BAD_USER_INPUT", check: noData},
		{name: "alias flood", msg: "别名数", run: gql(aliases.String(), nil)("admin"), status: 200, code: "BAD_USER_INPUT", check: noData},
		{name: "directive flood", msg: "指令数", run: gql(directives, nil)("admin"), status: 200, code: "BAD_USER_INPUT", check: noData},
		{name: "token flood", msg: "token limit", run: gql(tokens, nil)("admin"), status: 200, code: "GRAPHQL_PARSE_FAILED", check: noData},
		{name: "complexity flood", msg: "查询复杂度", run: gql(wide, nil)("admin"), status: 200, code: "BAD_USER_INPUT", check: noData},
		{name: "first 0", run: gql(`query($n:Int){auditLog(first:$n){edges{cursor}}}`, map[string]any{"n": 0})("admin"), status: 200, code: "BAD_USER_INPUT"},
		{name: "first -1", run: gql(`query($n:Int){residents(first:$n){edges{cursor}}}`, map[string]any{"n": -1})("admin"), status: 200, code: "BAD_USER_INPUT"},
		{name: "first 101", run: gql(`query($n:Int){auditLog(first:$n){edges{cursor}}}`, map[string]any{"n": 101})("admin"), status: 200, code: "BAD_USER_INPUT"},
		{name: "first 100000", run: gql(`query($n:Int){residents(first:$n){totalCount}}`, map[string]any{"n": 100000})("admin"), status: 200, code: "BAD_USER_INPUT"},
		{name: "body just over 100 KiB", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.raw(t, http.MethodPost, "application/json", strings.NewReader(big(app.MaxBodyBytes)), int64(len(big(app.MaxBodyBytes))), s.admin)
		}, status: 413, code: "BAD_USER_INPUT"},
		{name: "10 MiB body", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.raw(t, http.MethodPost, "application/json", strings.NewReader(big(10<<20)), int64(len(big(10<<20))), s.admin)
		}, status: 413, code: "BAD_USER_INPUT"},
		{name: "10 MiB chunked body", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.raw(t, http.MethodPost, "application/json", io.NopCloser(bytes.NewReader([]byte(big(10<<20)))), -1, s.admin)
		}, status: 413, code: "BAD_USER_INPUT"},
		{name: "malformed JSON carrying an ID number", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			body := `{"query":"{me{id}}","variables":{"idNumber":"` + idNumber + `"`
			return s.raw(t, http.MethodPost, "application/json", strings.NewReader(body), int64(len(body)), s.admin)
		}, status: 400, code: "BAD_USER_INPUT", check: func(t *testing.T, s *suite, r *testenv.Response) {
			if strings.Contains(string(r.Raw), idNumber) || strings.Contains(string(r.Raw), idNumber[:14]) {
				t.Fatalf("echoed: %s", r.Raw)
			}
			if logs := s.e.Logs(); logs == "" || strings.Contains(logs, idNumber[:14]) {
				t.Fatal("no logs captured, or the ID number reached them")
			}
		}},
		{name: "mutation over GET", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			req, _ := http.NewRequest(http.MethodGet, s.e.Server.URL+"/graphql?query="+url.QueryEscape(`mutation{logout}`), nil)
			req.Header.Set("Authorization", "Bearer "+s.admin)
			return s.e.Send(t, req)
		}, status: 405, code: "BAD_USER_INPUT", check: logoutStillAlive},
		{name: "mutation as text/plain", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.raw(t, http.MethodPost, "text/plain", strings.NewReader(`{"query":"mutation{logout}"}`), -1, s.admin)
		}, status: 415, code: "BAD_USER_INPUT", check: logoutStillAlive},
		{name: "mutation as multipart without preflight header", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			body := "--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\":\"mutation{logout}\"}\r\n--x\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{}\r\n--x--\r\n"
			return s.raw(t, http.MethodPost, "multipart/form-data; boundary=x", strings.NewReader(body), -1, s.admin)
		}, status: 415, code: "BAD_USER_INPUT", check: logoutStillAlive},
		{name: "mutation as a form", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.raw(t, http.MethodPost, "application/x-www-form-urlencoded", strings.NewReader("query="+url.QueryEscape("mutation{logout}")), -1, s.admin)
		}, status: 415, code: "BAD_USER_INPUT", check: logoutStillAlive},
		{name: "array batching", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			body := `[{"query":"mutation{logout}"},{"query":"{me{id}}","variables":{"idNumber":"` + idNumber + `"}}]`
			return s.raw(t, http.MethodPost, "application/json", strings.NewReader(body), -1, s.admin)
		}, status: 400, code: "BAD_USER_INPUT", check: func(t *testing.T, s *suite, r *testenv.Response) {
			if strings.Contains(string(r.Raw), "logout") || strings.Contains(string(r.Raw), idNumber[:14]) {
				t.Fatalf("batch echoed or executed: %s", r.Raw)
			}
			logoutStillAlive(t, s, r)
		}},
		{name: "JSON that is not a request object", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			body := `{"query":{"idNumber":"` + idNumber + `"}}`
			return s.raw(t, http.MethodPost, "application/json", strings.NewReader(body), -1, s.admin)
		}, status: 400, code: "BAD_USER_INPUT", check: func(t *testing.T, _ *suite, r *testenv.Response) {
			if strings.Contains(string(r.Raw), idNumber[:14]) {
				t.Fatalf("echoed: %s", r.Raw)
			}
		}},
		{name: "bad global id", run: gql(`{node(id:"not-an-id"){id}}`, nil)("admin"), status: 200, code: "BAD_USER_INPUT"},
		{name: "introspection in production", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.prod.Do(t, s.prodAdmin, `{ me { id } ...F } fragment F on Query { __schema { queryType { name } } }`, nil)
		}, status: 200, code: "GRAPHQL_VALIDATION_FAILED", check: func(t *testing.T, _ *suite, r *testenv.Response) {
			if r.Get("__schema") != nil || r.Get("me") != nil {
				t.Fatalf("executed: %s", r.Raw)
			}
		}},
		suggestion("field", `{ mee { id } residnts { totalCount } }`, "me"),
		suggestion("type", `query($f: ResidentFiltr){ residents(filter: $f) { totalCount } }`, "ResidentFilter"),
		suggestion("argument", `{ residents(filtr: {}) { totalCount } }`, "filter"),
		suggestion("input field", `{ residents(filter: {nameContain: "x"}) { totalCount } }`, "nameContains"),
		suggestion("enum value", `{ orgUnits(kind: STREE) { id } }`, "STREET"),
		{name: "/metrics on the public listener in production", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			req, _ := http.NewRequest(http.MethodGet, s.prod.Server.URL+"/metrics", nil)
			return s.prod.Send(t, req)
		}, status: 404, code: "", check: func(t *testing.T, s *suite, _ *testenv.Response) {
			// It is served where METRICS_ADDR points: the handler of that listener.
			rec := httptest.NewRecorder()
			s.prod.App.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), "go_sql_max_open_connections") {
				t.Fatalf("metrics listener: %d %.200s", rec.Code, rec.Body.String())
			}
		}},
		{name: "GraphiQL in production", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			req, _ := http.NewRequest(http.MethodGet, s.prod.Server.URL+"/", nil)
			return s.prod.Send(t, req)
		}, status: 404, code: ""},
	}
}

func tokenAttacks() []attack {
	forged := func(method jwt.SigningMethod, key func(s *suite) any, claims func(s *suite) jwt.MapClaims) func(*testing.T, *suite, string) *testenv.Response {
		return func(t *testing.T, s *suite, _ string) *testenv.Response {
			tok, err := jwt.NewWithClaims(method, claims(s)).SignedString(key(s))
			if err != nil {
				t.Fatal(err)
			}
			return s.e.Do(t, tok, meQuery, nil)
		}
	}
	ourKey := func(s *suite) any { return s.e.Config.JWTSigningKey }
	with := func(k string, v func() any) func(s *suite) jwt.MapClaims {
		return func(s *suite) jwt.MapClaims {
			if v == nil {
				return s.claims(k, nil)
			}
			return s.claims(k, v())
		}
	}
	same := func(s *suite) jwt.MapClaims { return s.claims("", nil) }
	useToken := func(t *testing.T, s *suite, tok string) *testenv.Response { return s.e.Do(t, tok, meQuery, nil) }
	a := func(name string, run func(*testing.T, *suite, string) *testenv.Response) attack {
		return attack{name: "JWT " + name, run: run, status: 200, code: "UNAUTHENTICATED", check: func(t *testing.T, s *suite, r *testenv.Response) {
			if r.Get("me") != nil {
				t.Fatalf("signed in: %s", r.Raw)
			}
			sessionAlive(t, s.e, s.admin)
		}}
	}
	cases := []attack{
		a("alg none", forged(jwt.SigningMethodNone, func(*suite) any { return jwt.UnsafeAllowNoneSignatureType }, same)),
		a("HS512 instead of HS256", forged(jwt.SigningMethodHS512, ourKey, same)),
		a("wrong key", forged(jwt.SigningMethodHS256, func(*suite) any { return []byte("another-key-of-thirty-two-bytes!") }, same)),
		a("wrong audience", forged(jwt.SigningMethodHS256, ourKey, with("aud", func() any { return []string{"someone-else"} }))),
		a("wrong issuer", forged(jwt.SigningMethodHS256, ourKey, with("iss", func() any { return "evil" }))),
		a("expired", forged(jwt.SigningMethodHS256, ourKey, with("exp", func() any { return time.Now().Add(-time.Hour).Unix() }))),
		a("missing exp", forged(jwt.SigningMethodHS256, ourKey, with("exp", nil))),
		a("future nbf", forged(jwt.SigningMethodHS256, ourKey, with("nbf", func() any { return time.Now().Add(time.Hour).Unix() }))),
		a("unknown session", forged(jwt.SigningMethodHS256, ourKey, with("sid", func() any { return uuid.NewString() }))),
		a("another subject in a valid session", forged(jwt.SigningMethodHS256, ourKey, with("sub", func() any { return uuid.NewString() }))),
		a("altered claims", func(t *testing.T, s *suite, _ string) *testenv.Response {
			parts := strings.Split(s.admin, ".")
			return s.e.Do(t, parts[0]+"."+strings.Replace(parts[1], parts[1][:4], "eyJz", 1)+"."+parts[2], meQuery, nil)
		}),
		a("garbage", func(t *testing.T, s *suite, _ string) *testenv.Response {
			return s.e.Do(t, "not-a-token", meQuery, nil)
		}),
	}
	refresh := a("refresh token used as an access token", useToken)
	refresh.setup = func(t *testing.T, s *suite) string {
		return s.e.MustDo(t, "", `mutation{login(input:{username:"auditor",password:"demo-password"}){refreshToken}}`, nil).Str("login.refreshToken")
	}
	afterLogout := a("after logout", useToken)
	afterLogout.setup = func(t *testing.T, s *suite) string {
		tok := s.e.As(t, "operator")
		s.e.MustDo(t, tok, `mutation{logout}`, nil)
		return tok
	}
	deactivated := a("after the user was deactivated", useToken)
	deactivated.setup = func(t *testing.T, s *suite) string {
		street := s.e.MustDo(t, s.admin, `{orgUnits(kind:STREET){id}}`, nil).Str("orgUnits.0.id")
		name := fmt.Sprintf("gone.%d", rand.IntN(1e6))
		uid := s.e.MustDo(t, s.admin, `mutation($u:String!,$o:ID!){createStaffUser(input:{username:$u,password:"long-enough-pw",displayName:"离职",roles:[CLERK],orgUnitId:$o}){user{id}}}`,
			map[string]any{"u": name, "o": street}).Str("createStaffUser.user.id")
		tok := s.e.Login(t, name, "long-enough-pw")
		s.e.MustDo(t, s.admin, `mutation($id:ID!){setStaffUserActive(id:$id,active:false){user{active}}}`, map[string]any{"id": uid})
		return tok
	}
	replay := attack{name: "refresh-token replay", userError: "refreshSession.userErrors.0.code", code: "INVALID_CREDENTIALS", status: 200,
		setup: func(t *testing.T, s *suite) string {
			rt := s.e.MustDo(t, "", `mutation{login(input:{username:"caseworker",password:"demo-password"}){refreshToken}}`, nil).Str("login.refreshToken")
			r := s.e.MustDo(t, "", refreshMutation, map[string]any{"t": rt})
			return rt + " " + r.Str("refreshSession.accessToken")
		},
		run: func(t *testing.T, s *suite, arg string) *testenv.Response {
			used, _, _ := strings.Cut(arg, " ")
			return s.e.Do(t, "", refreshMutation, map[string]any{"t": used})
		},
		check: func(t *testing.T, s *suite, r *testenv.Response) {
			if r.Get("refreshSession.accessToken") != nil {
				t.Fatalf("replay issued tokens: %s", r.Raw)
			}
			// The replay revoked the family: the rotated session is dead.
			_, access, _ := strings.Cut(s.arg, " ")
			if s.e.Do(t, access, meQuery, nil).ErrorCode() != "UNAUTHENTICATED" {
				t.Fatal("the access token of a replayed family still works")
			}
		},
	}
	return append(cases, refresh, afterLogout, deactivated, replay)
}

func identityAttacks() []attack {
	const wl = `mutation($c:String!){wechatLogin(input:{code:$c}){accessToken userErrors{code}}}`
	noCall := func(t *testing.T, s *suite, r *testenv.Response) {
		if r.Get("wechatLogin.accessToken") != nil {
			t.Fatalf("signed in: %s", r.Raw)
		}
	}
	var calls int64
	return []attack{
		{name: "WeChat code replay", setup: func(t *testing.T, s *suite) string {
			code := fmt.Sprintf("ok:replay-%d", rand.IntN(1e9))
			s.e.WechatLogin(t, code)
			calls = s.fake.Calls.Load()
			return code
		}, run: func(t *testing.T, s *suite, code string) *testenv.Response {
			return s.e.Do(t, "", wl, map[string]any{"c": code})
		}, status: 200, userError: "wechatLogin.userErrors.0.code", code: "INVALID_CREDENTIALS", check: func(t *testing.T, s *suite, r *testenv.Response) {
			noCall(t, s, r)
			if s.fake.Calls.Load() != calls {
				t.Fatal("a replayed code was sent to WeChat")
			}
		}},
		{name: "WeChat forged openid in the input", run: gql(`mutation{wechatLogin(input:{code:"ok:victim",openid:"victim"}){accessToken}}`, nil)(""),
			status: 200, code: "GRAPHQL_VALIDATION_FAILED", check: noCall},
		{name: "WeChat code WeChat never issued", run: gql(wl, map[string]any{"c": "forged-code-for-victim"})(""),
			status: 200, userError: "wechatLogin.userErrors.0.code", code: "INVALID_CREDENTIALS", check: noCall},
		{name: "bindResident by a staff account", run: gql(`mutation($in:BindResidentInput!){bindResident(input:$in){resident{id}}}`,
			map[string]any{"in": map[string]any{"name": "张大爷", "idNumber": "x", "phone": "13800001111"}})("clerk"),
			status: 200, code: "FORBIDDEN"},
	}
}

const (
	loginDoc   = `mutation($u:String!,$p:String!){login(input:{username:$u,password:$p}){accessToken userErrors{code message}}}`
	wechatDoc  = `mutation($c:String!){wechatLogin(input:{code:$c}){accessToken userErrors{code message}}}`
	changeDoc  = `mutation($c:String!,$n:String!){changePassword(input:{currentPassword:$c,newPassword:$n}){accessToken userErrors{code field message}}}`
	resetDoc   = `mutation($id:ID!,$n:String!){resetPassword(input:{userId:$id,newPassword:$n}){user{id} userErrors{code field message}}}`
	wrongPass  = "not-the-password-1"
	spraySize  = 20 // auth.DefaultLoginLimits: ClientFailures
	pairLimit  = 5  // PairFailures
	backoffAt  = 10 // UserBackoffFrom
	wechatSize = 30 // wechat.ClientLimit
	bindSize   = 20 // resident.BindClientLimit
)

// login signs in through e from the address a trusted proxy names (e's
// own peer address when e trusts no proxy).
func login(t *testing.T, e *testenv.Env, from, user, password string) *testenv.Response {
	t.Helper()
	return e.DoFrom(t, from, "", loginDoc, map[string]any{"u": user, "p": password})
}

// mustFail asserts a wrong-password answer.
func mustFail(t *testing.T, r *testenv.Response) {
	t.Helper()
	if r.Str("login.userErrors.0.code") != "INVALID_CREDENTIALS" {
		t.Fatalf("want INVALID_CREDENTIALS: %s", r.Raw)
	}
}

// signsIn asserts that the right password from addr works.
func signsIn(t *testing.T, e *testenv.Env, from, user, password string) {
	t.Helper()
	if r := login(t, e, from, user, password); r.Str("login.accessToken") == "" {
		t.Fatalf("%s from %s cannot sign in: %s", user, from, r.Raw)
	}
}

const ue0 = "login.userErrors.0.code"

// loginAttacks are issue 17's items 3 and 6: sign-in throttled per client
// address (from X-Forwarded-For only behind a trusted proxy), per
// (username, address), overall, with a backoff per username that spares
// addresses the user signed in from; argon2 in a bounded pool; wechatLogin
// and bindResident limited per address before anything is asked; and
// changing or resetting a password.
func loginAttacks() []attack {
	return []attack{
		{name: "login spray of one password over many usernames from one address", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			for i := 0; i < spraySize; i++ {
				user := fmt.Sprintf("nobody%d", i)
				if i%5 == 0 {
					user = []string{"admin", "telephony", "provider1", "provider2"}[i/5]
				}
				mustFail(t, login(t, s.e, "198.51.100.10", user, wrongPass))
			}
			// Even the right password: the address is spent.
			return login(t, s.e, "198.51.100.10", "admin", testenv.AdminPassword)
		}, status: 200, userError: ue0, code: "TOO_MANY_ATTEMPTS", check: func(t *testing.T, s *suite, r *testenv.Response) {
			if r.Get("login.accessToken") != nil {
				t.Fatalf("signed in: %s", r.Raw)
			}
			// A left part the client wrote itself does not make it someone else.
			if c := login(t, s.e, "198.51.100.99, 198.51.100.10", "nobody-x", wrongPass).Str(ue0); c != "TOO_MANY_ATTEMPTS" {
				t.Fatalf("a spoofed left-most X-Forwarded-For entry escaped the limit: %s", c)
			}
			signsIn(t, s.e, "198.51.100.11", "admin", testenv.AdminPassword)
		}},
		{name: "login lockout stays with the attacker's address", setup: func(t *testing.T, s *suite) string {
			for i := 0; i < pairLimit; i++ {
				mustFail(t, login(t, s.e, "198.51.100.20", "operator", wrongPass))
			}
			return ""
		}, run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return login(t, s.e, "198.51.100.20", "operator", seed.DemoPassword)
		}, status: 200, userError: ue0, code: "TOO_MANY_ATTEMPTS", check: func(t *testing.T, s *suite, _ *testenv.Response) {
			signsIn(t, s.e, "198.51.100.21", "operator", seed.DemoPassword)
		}},
		{name: "login guessing at one account from many addresses slows new addresses, not the user's own", setup: func(t *testing.T, s *suite) string {
			signsIn(t, s.e, "198.51.100.30", "caseworker2", seed.DemoPassword)
			// backoffAt failures, then one more that takes the first slot.
			for i := 0; i <= backoffAt; i++ {
				mustFail(t, login(t, s.e, fmt.Sprintf("198.51.100.%d", 31+i), "caseworker2", wrongPass))
			}
			return ""
		}, run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			return login(t, s.e, "198.51.100.60", "caseworker2", seed.DemoPassword)
		}, status: 200, userError: ue0, code: "TOO_MANY_ATTEMPTS", check: func(t *testing.T, s *suite, _ *testenv.Response) {
			signsIn(t, s.e, "198.51.100.30", "caseworker2", seed.DemoPassword)
		}},
		{name: "login while every hashing slot is taken is refused, not queued", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			pool := s.e.App.Auth.Hashes()
			for i := 0; i < pool.Size(); i++ {
				release, err := pool.Acquire(context.Background())
				if err != nil {
					t.Fatalf("slot %d: %v", i, err)
				}
				defer release()
			}
			return login(t, s.e, "198.51.100.50", "auditor", seed.DemoPassword)
		}, status: 503, code: "SERVICE_UNAVAILABLE", check: func(t *testing.T, s *suite, r *testenv.Response) {
			if r.Get("login.accessToken") != nil {
				t.Fatalf("signed in: %s", r.Raw)
			}
			// Many at once: every one is answered, and never more hash at
			// once than the pool has slots.
			pool := s.e.App.Auth.Hashes()
			var wg sync.WaitGroup
			for i := 0; i < 3*pool.Size(); i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := login(t, s.e, fmt.Sprintf("198.51.101.%d", i), fmt.Sprintf("par%d", i), wrongPass)
					if c, ec := r.Str(ue0), r.ErrorCode(); c != "INVALID_CREDENTIALS" && ec != "SERVICE_UNAVAILABLE" {
						t.Errorf("parallel login %d: %s", i, r.Raw)
					}
				}()
			}
			wg.Wait()
			if p := pool.Peak(); p > int64(pool.Size()) {
				t.Fatalf("%d hashes at once in a pool of %d", p, pool.Size())
			}
			// The refused attempt was not counted: the same address signs in.
			signsIn(t, s.e, "198.51.100.50", "auditor", seed.DemoPassword)
		}},
		{name: "X-Forwarded-For from an untrusted peer is ignored", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			// s.prod trusts no proxy: every "address" below is its one peer.
			for i := 0; i < spraySize; i++ {
				mustFail(t, login(t, s.prod, fmt.Sprintf("203.0.113.%d", i), fmt.Sprintf("nobody%d", i), wrongPass))
			}
			return login(t, s.prod, "203.0.113.200", "nobody-else", wrongPass)
		}, status: 200, userError: ue0, code: "TOO_MANY_ATTEMPTS"},
		{name: "login overall rate", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			e := testenv.New(t, testenv.TrustLocalProxy(), testenv.WithConfig(func(c *config.Config) { c.LoginRatePerMinute = 3 }))
			for i := 0; i < 3; i++ {
				mustFail(t, login(t, e, fmt.Sprintf("203.0.113.%d", i), fmt.Sprintf("nobody%d", i), wrongPass))
			}
			return login(t, e, "203.0.113.9", "admin", testenv.AdminPassword)
		}, status: 200, userError: ue0, code: "TOO_MANY_ATTEMPTS"},
		{name: "wechatLogin limited per address before WeChat is asked", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			for i := 0; i < wechatSize; i++ {
				r := s.e.DoFrom(t, "198.51.100.70", "", wechatDoc, map[string]any{"c": fmt.Sprintf("never-issued-%d-%d", i, rand.IntN(1e9))})
				if c := r.Str("wechatLogin.userErrors.0.code"); c != "INVALID_CREDENTIALS" {
					t.Fatalf("attempt %d: %s", i, r.Raw)
				}
			}
			s.arg = strconv.FormatInt(s.fake.Calls.Load(), 10)
			return s.e.DoFrom(t, "198.51.100.70", "", wechatDoc, map[string]any{"c": fmt.Sprintf("ok:quota-%d", rand.IntN(1e9))})
		}, status: 200, userError: "wechatLogin.userErrors.0.code", code: "TOO_MANY_ATTEMPTS", check: func(t *testing.T, s *suite, _ *testenv.Response) {
			if calls := strconv.FormatInt(s.fake.Calls.Load(), 10); calls != s.arg {
				t.Fatalf("WeChat was asked: %s calls, %s before", calls, s.arg)
			}
			r := s.e.DoFrom(t, "198.51.100.71", "", wechatDoc, map[string]any{"c": fmt.Sprintf("ok:elsewhere-%d", rand.IntN(1e9))})
			if r.Str("wechatLogin.accessToken") == "" {
				t.Fatalf("another address cannot sign in: %s", r.Raw)
			}
		}},
		{name: "wechatLogin overall rate before WeChat is asked", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			e := testenv.New(t, testenv.WithWechat(s.fake), testenv.WithConfig(func(c *config.Config) { c.WechatLoginRatePerMinute = 3 }))
			for i := 0; i < 3; i++ {
				if r := e.Do(t, "", wechatDoc, map[string]any{"c": fmt.Sprintf("never-issued-%d", rand.IntN(1e9))}); r.Str("wechatLogin.userErrors.0.code") != "INVALID_CREDENTIALS" {
					t.Fatalf("attempt %d: %s", i, r.Raw)
				}
			}
			s.arg = strconv.FormatInt(s.fake.Calls.Load(), 10)
			return e.Do(t, "", wechatDoc, map[string]any{"c": fmt.Sprintf("ok:overall-%d", rand.IntN(1e9))})
		}, status: 200, userError: "wechatLogin.userErrors.0.code", code: "TOO_MANY_ATTEMPTS", check: func(t *testing.T, s *suite, _ *testenv.Response) {
			if calls := strconv.FormatInt(s.fake.Calls.Load(), 10); calls != s.arg {
				t.Fatalf("WeChat was asked: %s calls, %s before", calls, s.arg)
			}
		}},
		{name: "bindResident probing from one address through many WeChat accounts", setup: func(t *testing.T, s *suite) string {
			var toks []string
			for i := 0; i < bindSize/4+1; i++ {
				r := s.e.DoFrom(t, fmt.Sprintf("198.51.100.%d", 80+i), "", wechatDoc, map[string]any{"c": fmt.Sprintf("ok:prober-%d-%d", i, rand.IntN(1e9))})
				toks = append(toks, r.Str("wechatLogin.accessToken"))
			}
			return strings.Join(toks, " ")
		}, run: func(t *testing.T, s *suite, arg string) *testenv.Response {
			toks := strings.Fields(arg)
			probe := func(tok string) *testenv.Response {
				return s.e.DoFrom(t, "198.51.100.90", tok, bindDoc, map[string]any{"in": map[string]any{"name": "冒名", "idNumber": s.idNumber, "phone": "13800001111"}})
			}
			for i := 0; i < bindSize; i++ { // four per account: under each account's own limit
				if r := probe(toks[i/4]); r.Str("bindResident.userErrors.0.code") != "NOT_FOUND" {
					t.Fatalf("probe %d: %s", i, r.Raw)
				}
			}
			return probe(toks[len(toks)-1])
		}, status: 200, userError: "bindResident.userErrors.0.code", code: "TOO_MANY_ATTEMPTS"},
		{name: "changePassword as a current-password oracle", setup: func(t *testing.T, s *suite) string {
			return s.e.As(t, "caseworker")
		}, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
			for i := 0; i < pairLimit; i++ {
				r := s.e.Do(t, tok, changeDoc, map[string]any{"c": fmt.Sprintf("guess-number-%d", i), "n": "a-brand-new-secret"})
				if r.Str("changePassword.userErrors.0.code") != "INVALID_CREDENTIALS" {
					t.Fatalf("guess %d: %s", i, r.Raw)
				}
			}
			return s.e.Do(t, tok, changeDoc, map[string]any{"c": seed.DemoPassword, "n": "a-brand-new-secret"})
		}, status: 200, userError: "changePassword.userErrors.0.code", code: "TOO_MANY_ATTEMPTS", check: func(t *testing.T, s *suite, _ *testenv.Response) {
			sessionAlive(t, s.e, s.arg)
		}},
		{name: "changePassword to the username", setup: func(t *testing.T, s *suite) string {
			return s.e.As(t, "auditor")
		}, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
			return s.e.Do(t, tok, changeDoc, map[string]any{"c": seed.DemoPassword, "n": "Auditor2026!"})
		}, status: 200, userError: "changePassword.userErrors.0.code", code: "WEAK_PASSWORD", check: func(t *testing.T, s *suite, r *testenv.Response) {
			if r.Get("changePassword.accessToken") != nil {
				t.Fatalf("changed: %s", r.Raw)
			}
			sessionAlive(t, s.e, s.arg)
		}},
		{name: "changePassword by a WeChat account", setup: func(t *testing.T, s *suite) string {
			return s.e.WechatLogin(t, fmt.Sprintf("ok:changer-%d", rand.IntN(1e9)))
		}, run: func(t *testing.T, s *suite, tok string) *testenv.Response {
			return s.e.Do(t, tok, changeDoc, map[string]any{"c": "anything-at-all", "n": "a-brand-new-secret"})
		}, status: 200, code: "FORBIDDEN"},
		{name: "resetPassword by a clerk", run: func(t *testing.T, s *suite, _ string) *testenv.Response {
			admin := s.e.MustDo(t, s.admin, `{me{id}}`, nil).Str("me.id")
			return s.e.Do(t, s.clerk, resetDoc, map[string]any{"id": admin, "n": "taken-over-the-admin"})
		}, status: 200, code: "FORBIDDEN", check: func(t *testing.T, s *suite, _ *testenv.Response) {
			sessionAlive(t, s.e, s.admin)
		}},
	}
}
