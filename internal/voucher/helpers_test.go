package voucher_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/creditcode"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var seq, residentSeq atomic.Int64

func uniq() int64 { return seq.Add(1) + time.Now().UnixNano()%1_000_000*100 }

// fixture is one program and one provider, ready to redeem.
type fixture struct {
	e        *testenv.Env
	admin    string
	clerk    string
	program  string // global id
	progID   uuid.UUID
	provider string // global id
	provTok  string
	provUser string
	period   string
	today    string
}

type programSpec struct {
	rules      []map[string]any
	budget     any
	carry      int
	categories []string
}

func createProgram(t testing.TB, e *testenv.Env, admin string, ps programSpec) (string, uuid.UUID) {
	t.Helper()
	if ps.categories == nil {
		ps.categories = []string{"MEAL", "BATHING", "CLEANING"}
	}
	if ps.rules == nil {
		ps.rules = []map[string]any{{"amountFen": 30000}}
	}
	r := e.MustDo(t, admin, `mutation($in:CreateVoucherProgramInput!){createVoucherProgram(input:$in){program{id status} userErrors{code field message}}}`,
		map[string]any{"in": map[string]any{"code": fmt.Sprintf("P%d", uniq()), "name": "测试券", "categories": ps.categories,
			"rules": ps.rules, "budgetPerPeriodFen": ps.budget, "carryOverPeriods": ps.carry}})
	gid := r.Str("createVoucherProgram.program.id")
	if gid == "" {
		t.Fatalf("create program: %s", r.Raw)
	}
	r = e.MustDo(t, admin, `mutation($id:ID!){activateVoucherProgram(id:$id){program{status} userErrors{code}}}`, map[string]any{"id": gid})
	if r.Str("activateVoucherProgram.program.status") != "ACTIVE" {
		t.Fatalf("activate: %s", r.Raw)
	}
	_, id, _ := relay.Parse(gid)
	return gid, id
}

func registerProvider(t testing.TB, e *testenv.Env, admin string, categories []string) (gid, token, user string) {
	t.Helper()
	n := uniq()
	user = fmt.Sprintf("prov%d", n)
	r := e.MustDo(t, admin, `mutation($in:RegisterProviderInput!){registerProvider(input:$in){provider{id status} userErrors{code field}}}`,
		map[string]any{"in": map[string]any{"name": "测试服务商", "creditCode": creditcode.Generate(int(n % 100_000_000)),
			"categories": categories, "username": user, "password": "provider-password-1"}})
	gid = r.Str("registerProvider.provider.id")
	if gid == "" {
		t.Fatalf("register provider: %s", r.Raw)
	}
	return gid, e.Login(t, user, "provider-password-1"), user
}

func newFixture(t testing.TB, ps programSpec, opts ...testenv.Option) *fixture {
	t.Helper()
	e := testenv.New(t, opts...)
	f := &fixture{e: e, admin: e.Admin(t), clerk: e.As(t, "clerk")}
	f.program, f.progID = createProgram(t, e, f.admin, ps)
	f.provider, f.provTok, f.provUser = registerProvider(t, e, f.admin, []string{"MEAL", "BATHING", "CLEANING", "NURSING"})
	today := civil.DateOf(time.Now())
	f.period, f.today = civil.MonthOf(today).String(), today.String()
	return f
}

func residentGID(id uuid.UUID) string { return relay.ID("Resident", id) }

// resident inserts and enrolls a resident.
func (f *fixture) resident(t testing.TB, spec testenv.ResidentSpec) uuid.UUID {
	t.Helper()
	if spec.Statuses == nil {
		spec.Statuses = []string{}
	}
	if spec.IDNumber == "" && spec.BirthDate.IsZero() {
		n := int(residentSeq.Add(1))
		spec.BirthDate = time.Date(1935, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n%3000)
	}
	// The ID number is InsertResident's to generate: it draws another on a
	// collision. A number made here collided now and then with another
	// test's resident of the same birth date in the package's database.
	res := f.e.InsertResident(t, spec)
	r := f.e.MustDo(t, f.admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){program{id} userErrors{code}}}`,
		map[string]any{"p": f.program, "r": residentGID(res.ID)})
	if r.Str("enrollResident.program.id") == "" {
		t.Fatalf("enroll: %s", r.Raw)
	}
	return res.ID
}

// issue issues a period and waits for its run to end; a period other than
// this month or the next is a backfill (allowBackfill, as the ADMIN may).
func (f *fixture) issue(t testing.TB, period string) (issued, skipped int, fen int64, code string) {
	t.Helper()
	cur := civil.MonthOf(civil.DateOf(f.e.Clock.Now()))
	in := map[string]any{"programId": f.program, "period": period}
	if period != cur.String() && period != cur.AddMonths(1).String() {
		in["allowBackfill"] = true
	}
	r := f.e.MustDo(t, f.admin, `mutation($in:IssueVouchersInput!){issueVouchers(input:$in){issuedCount skippedCount issuedFen userErrors{code}
		run{id status}}}`, map[string]any{"in": in})
	g := func(p string) float64 { x, _ := r.Get(p).(float64); return x }
	if r.Str("issueVouchers.run.status") == "RUNNING" { // a large run (benchmarks): follow it to its end
		end := awaitRun(t, f.e, f.admin, r.Str("issueVouchers.run.id"), 10*time.Minute)
		g = func(p string) float64 {
			x, _ := end.Get(strings.Replace(p, "issueVouchers.", "node.", 1)).(float64)
			return x
		}
		return int(g("issueVouchers.issuedCount")), int(g("issueVouchers.skippedCount")), int64(g("issueVouchers.issuedFen")),
			end.Str("node.errorCode")
	}
	return int(g("issueVouchers.issuedCount")), int(g("issueVouchers.skippedCount")), int64(g("issueVouchers.issuedFen")),
		r.Str("issueVouchers.userErrors.0.code")
}

func (f *fixture) token(t testing.TB, rid uuid.UUID) string {
	t.Helper()
	r := f.e.MustDo(t, f.clerk, `mutation($p:ID!,$r:ID){createRedemptionToken(programId:$p,residentId:$r){token expiresAt userErrors{code}}}`,
		map[string]any{"p": f.program, "r": residentGID(rid)})
	tok := r.Str("createRedemptionToken.token")
	if tok == "" {
		t.Fatalf("token: %s", r.Raw)
	}
	return tok
}

const redeemDoc = `mutation($in:RedeemVoucherInput!){redeemVoucher(input:$in){redemption{id amountFen status provider{name}} remainingBalanceFen userErrors{code field message}}}`

type redeemed struct {
	id        string
	remaining int64
	code      string
	errCode   string
	raw       string
}

func (f *fixture) redeem(t testing.TB, provTok, token string, amount int64, key, date, category string) redeemed {
	t.Helper()
	if date == "" {
		date = f.today
	}
	if category == "" {
		category = "MEAL"
	}
	r := f.e.Do(t, provTok, redeemDoc, map[string]any{"in": map[string]any{"token": token, "category": category,
		"amountFen": amount, "serviceDate": date, "idempotencyKey": key}})
	rem, _ := r.Get("redeemVoucher.remainingBalanceFen").(float64)
	return redeemed{id: r.Str("redeemVoucher.redemption.id"), remaining: int64(rem), code: r.Str("redeemVoucher.userErrors.0.code"),
		errCode: r.ErrorCode(), raw: string(r.Raw)}
}

func (f *fixture) balance(t testing.TB, rid uuid.UUID) int64 {
	t.Helper()
	var n int64
	if err := f.e.DB.Raw("SELECT coalesce(sum(balance_fen),0) FROM vouchers WHERE resident_id = ? AND status = 'ACTIVE'", rid).Row().Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mustExec runs a statement the test sets up or breaks things with,
// failing the test when it fails: a dropped error would let the test go
// on against a database that is not what it thinks.
func mustExec(t testing.TB, e *testenv.Env, query string, args ...any) {
	t.Helper()
	if err := e.DB.Exec(query, args...).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// residentToken signs in as a WeChat account bound to the resident.
func residentToken(t testing.TB, e *testenv.Env, rid uuid.UUID) string {
	t.Helper()
	g, err := e.App.Auth.StartSession(context.Background(), e.DB, auth.WechatViewer(uuid.Must(uuid.NewV7()), &rid))
	if err != nil {
		t.Fatal(err)
	}
	return g.AccessToken
}

func mustDate(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func mustUUID(t testing.TB, gid string) uuid.UUID {
	t.Helper()
	_, id, err := relay.Parse(gid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
