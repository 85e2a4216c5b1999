package voucher_test

import (
	"testing"

	"github.com/jinjiang/residents/internal/creditcode"
	"github.com/jinjiang/residents/internal/testenv"
)

func TestProvidersAndPrograms(t *testing.T) {
	f := newFixture(t, programSpec{}, testenv.OwnDatabase(t)) // fixed credit codes, usernames and program codes
	logsOnFail(t, f.e)
	e := f.e
	reg := `mutation($in:RegisterProviderInput!){registerProvider(input:$in){provider{id} userErrors{code field}}}`
	in := func(code, user string) map[string]any {
		return map[string]any{"in": map[string]any{"name": "某服务商", "creditCode": code, "categories": []string{"MEAL"},
			"username": user, "password": "provider-password-1"}}
	}
	t.Run("registerProvider errors", func(t *testing.T) {
		good := creditcode.Generate(777)
		bad := good[:17] + map[bool]string{true: "1", false: "0"}[good[17] == '0']
		r := e.MustDo(t, f.admin, reg, in(bad, "p-bad"))
		if r.Str("registerProvider.userErrors.0.code") != "INVALID" || r.Str("registerProvider.userErrors.0.field.1") != "creditCode" {
			t.Fatalf("bad code: %s", r.Raw)
		}
		if r := e.MustDo(t, f.admin, reg, in(good, "p-good")); r.Str("registerProvider.provider.id") == "" {
			t.Fatalf("register: %s", r.Raw)
		}
		if r := e.MustDo(t, f.admin, reg, in(good, "p-good2")); r.Str("registerProvider.userErrors.0.code") != "DUPLICATE" {
			t.Fatalf("duplicate code: %s", r.Raw)
		}
		// a taken username rolls the provider back too
		if r := e.MustDo(t, f.admin, reg, in(creditcode.Generate(778), "p-good")); r.Str("registerProvider.userErrors.0.code") != "DUPLICATE" {
			t.Fatalf("duplicate user: %s", r.Raw)
		}
		var n int
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM providers WHERE credit_code = ?", testenv.Args(creditcode.Generate(778)), &n)
		if n != 0 {
			t.Fatal("provider kept without its user")
		}
		if r := e.Do(t, f.clerk, reg, in(creditcode.Generate(779), "p-x")); r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("clerk registered: %s", r.Raw)
		}
	})
	t.Run("providers scoping and viewer.provider", func(t *testing.T) {
		r := e.MustDo(t, f.provTok, `{providers{id name} me{provider{id status categories}}}`, nil)
		list, _ := r.Get("providers").([]any)
		if len(list) != 1 || r.Str("providers.0.id") != f.provider || r.Str("me.provider.id") != f.provider {
			t.Fatalf("provider view: %s", r.Raw)
		}
		r = e.MustDo(t, f.admin, `{providers{id} me{provider{id}}}`, nil)
		if list, _ := r.Get("providers").([]any); len(list) < 3 || r.Get("me.provider") != nil {
			t.Fatalf("admin view: %s", r.Raw)
		}
		r = e.MustDo(t, f.provTok, `query($id:ID!){node(id:$id){... on Provider{name}}}`, map[string]any{"id": f.provider})
		if r.Str("node.name") == "" {
			t.Fatalf("node: %s", r.Raw)
		}
		if r := e.Do(t, e.Login(t, "provider1", "demo-password"), `{me{provider{name}}}`, nil); r.Str("me.provider.name") == "" {
			t.Fatalf("seeded provider1: %s", r.Raw)
		}
	})
	t.Run("program validation", func(t *testing.T) {
		doc := `mutation($in:CreateVoucherProgramInput!){createVoucherProgram(input:$in){program{id} userErrors{code field}}}`
		r := e.MustDo(t, f.admin, doc, map[string]any{"in": map[string]any{"code": "X1", "name": "x", "categories": []string{"MEAL"},
			"rules": []any{}, "budgetPerPeriodFen": 0, "carryOverPeriods": -1}})
		if ues, _ := r.Get("createVoucherProgram.userErrors").([]any); len(ues) != 3 {
			t.Fatalf("want 3 errors: %s", r.Raw)
		}
		r = e.MustDo(t, f.admin, doc, map[string]any{"in": map[string]any{"code": "X2", "name": "x", "categories": []string{"MEAL"},
			"rules": []any{map[string]any{"amountFen": 0}}}})
		if r.Str("createVoucherProgram.userErrors.0.code") != "INVALID" {
			t.Fatalf("zero amount: %s", r.Raw)
		}
		r = e.MustDo(t, f.admin, doc, map[string]any{"in": map[string]any{"code": "JJ-YLFWQ", "name": "x", "categories": []string{"MEAL"},
			"rules": []any{map[string]any{"amountFen": 1}}}})
		if r.Str("createVoucherProgram.userErrors.0.code") != "DUPLICATE" {
			t.Fatalf("duplicate code: %s", r.Raw)
		}
		r = e.MustDo(t, f.admin, `mutation($id:ID!){activateVoucherProgram(id:$id){userErrors{code}}}`, map[string]any{"id": f.program})
		if r.Str("activateVoucherProgram.userErrors.0.code") != "INVALID_TRANSITION" {
			t.Fatalf("activate twice: %s", r.Raw)
		}
		r = e.MustDo(t, f.clerk, `{voucherPrograms{code status rules{minAge careLevels statuses disabilityGrades amountFen}}}`, nil)
		if r.Str("voucherPrograms.0.code") == "" {
			t.Fatalf("programs: %s", r.Raw)
		}
	})
	t.Run("enrollment", func(t *testing.T) {
		draft := e.MustDo(t, f.admin, `mutation{createVoucherProgram(input:{code:"DRAFT-1",name:"草稿",categories:[MEAL],rules:[{amountFen:100}]}){program{id}}}`, nil).
			Str("createVoucherProgram.program.id")
		res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104023001", BirthDate: mustDate("1941-02-03")})
		enroll := `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){program{id} resident{name} userErrors{code}}}`
		if r := e.MustDo(t, f.admin, enroll, map[string]any{"p": draft, "r": residentGID(res.ID)}); r.Str("enrollResident.userErrors.0.code") != "NOT_ELIGIBLE" {
			t.Fatalf("draft: %s", r.Raw)
		}
		if r := e.Do(t, e.As(t, "caseworker"), enroll, map[string]any{"p": f.program, "r": residentGID(res.ID)}); r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("out of jurisdiction: %s", r.Raw)
		}
		if r := e.MustDo(t, e.As(t, "caseworker2"), enroll, map[string]any{"p": f.program, "r": residentGID(res.ID)}); r.Str("enrollResident.resident.name") == "" {
			t.Fatalf("in jurisdiction: %s", r.Raw)
		}
		if r := e.MustDo(t, f.admin, enroll, map[string]any{"p": f.program, "r": residentGID(res.ID)}); r.Str("enrollResident.program.id") != f.program {
			t.Fatalf("enroll twice: %s", r.Raw)
		}
	})
}

func TestTokensAndResidentViews(t *testing.T) {
	f := newFixture(t, programSpec{})
	logsOnFail(t, f.e)
	e := f.e
	rid := f.resident(t, testenv.ResidentSpec{})
	other := f.resident(t, testenv.ResidentSpec{CommunityCode: "510104023001"})
	f.issue(t, f.period)
	tokDoc := `mutation($p:ID!,$r:ID){createRedemptionToken(programId:$p,residentId:$r){token expiresAt userErrors{code field}}}`
	me := residentToken(t, e, rid)
	t.Run("resident for themself", func(t *testing.T) {
		r := e.MustDo(t, me, tokDoc, map[string]any{"p": f.program})
		if r.Str("createRedemptionToken.token") == "" || r.Str("createRedemptionToken.expiresAt") == "" {
			t.Fatalf("own token: %s", r.Raw)
		}
		if red := f.redeem(t, f.provTok, r.Str("createRedemptionToken.token"), 1200, "mini-1", "", "BATHING"); red.id == "" {
			t.Fatalf("redeem own token: %s", red.raw)
		}
		if r := e.Do(t, me, tokDoc, map[string]any{"p": f.program, "r": residentGID(other)}); r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("for someone else: %s", r.Raw)
		}
	})
	t.Run("staff on behalf", func(t *testing.T) {
		if r := e.MustDo(t, f.clerk, tokDoc, map[string]any{"p": f.program}); r.Str("createRedemptionToken.userErrors.0.code") != "INVALID" {
			t.Fatalf("no residentId: %s", r.Raw)
		}
		if r := e.Do(t, e.As(t, "caseworker"), tokDoc, map[string]any{"p": f.program, "r": residentGID(other)}); r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("caseworker outside: %s", r.Raw)
		}
		if r := e.MustDo(t, e.As(t, "caseworker"), tokDoc, map[string]any{"p": f.program, "r": residentGID(rid)}); r.Str("createRedemptionToken.token") == "" {
			t.Fatalf("caseworker inside: %s", r.Raw)
		}
		notEnrolled := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, BirthDate: mustDate("1939-09-09")}).ID
		if r := e.MustDo(t, f.clerk, tokDoc, map[string]any{"p": f.program, "r": residentGID(notEnrolled)}); r.Str("createRedemptionToken.userErrors.0.code") != "NOT_ELIGIBLE" {
			t.Fatalf("not enrolled: %s", r.Raw)
		}
		if r := e.Do(t, f.provTok, tokDoc, map[string]any{"p": f.program, "r": residentGID(rid)}); r.ErrorCode() != "FORBIDDEN" {
			t.Fatalf("provider made a token: %s", r.Raw)
		}
	})
	t.Run("resident views", func(t *testing.T) {
		r := e.MustDo(t, f.admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){resident{
			voucherBalanceFen active: vouchers(status: ACTIVE){id period faceValueFen balanceFen validFrom validUntil program{code} ledger{kind amountFen balanceAfterFen redemption{amountFen}}}
			redemptions(first: 5){amountFen category status provider{name} program{code}}}}}`,
			map[string]any{"p": f.program, "r": residentGID(rid)})
		if r.Get("enrollResident.resident.voucherBalanceFen") != float64(30000-1200) ||
			r.Str("enrollResident.resident.active.0.ledger.1.kind") != "REDEEM" ||
			r.Get("enrollResident.resident.active.0.ledger.1.redemption.amountFen") != float64(1200) ||
			r.Str("enrollResident.resident.redemptions.0.provider.name") == "" {
			t.Fatalf("views: %s", r.Raw)
		}
		vid := r.Str("enrollResident.resident.active.0.id")
		if x := e.MustDo(t, me, `query($id:ID!){node(id:$id){... on Voucher{balanceFen resident{name}}}}`, map[string]any{"id": vid}); x.Get("node.balanceFen") != float64(28800) {
			t.Fatalf("resident reads own voucher: %s", x.Raw)
		}
		if x := e.MustDo(t, residentToken(t, e, other), `query($id:ID!){node(id:$id){... on Voucher{balanceFen}}}`, map[string]any{"id": vid}); x.Get("node") != nil {
			t.Fatalf("other resident read the voucher: %s", x.Raw)
		}
		if x := e.MustDo(t, f.provTok, `query($id:ID!){node(id:$id){... on Voucher{balanceFen}}}`, map[string]any{"id": vid}); x.Get("node") != nil {
			t.Fatalf("provider read a voucher: %s", x.Raw)
		}
		ok, err := e.App.Vouchers.HasServed(t.Context(), mustUUID(t, f.provider), rid)
		if err != nil || !ok {
			t.Fatalf("HasServed: %v %v", ok, err)
		}
		if ok, _ := e.App.Vouchers.HasServed(t.Context(), mustUUID(t, f.provider), other); ok {
			t.Fatal("HasServed for a resident never served")
		}
	})
}
