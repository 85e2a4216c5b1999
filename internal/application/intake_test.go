package application_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestNumbersUnderConcurrency: 20 concurrent submissions on one day get
// JJ20260610000001 … 000020, each once, with no gap; a refused submission
// gives its number back.
func TestNumbersUnderConcurrency(t *testing.T) {
	w := newWorld(t, at(2026, time.June, 10, 11))
	e := w.e
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}})
	// A submission refused inside the transaction (unknown center) uses no number.
	r := e.MustDo(t, w.clerk, submitDoc, map[string]any{"in": map[string]any{"itemCode": "YLFWQ-SL",
		"applicantId": residentGID(res.ID), "centerId": relay.ID("ServiceCenter", uuid.Must(uuid.NewV7()))}})
	mustEqual(t, "unknown center", r.Str("submitApplication.userErrors.0.code"), "NOT_FOUND")

	const n = 20
	numbers := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.Do(t, w.clerk, submitDoc, map[string]any{"in": map[string]any{"itemCode": "YLFWQ-SL",
				"applicantId": residentGID(res.ID), "materials": allMaterials}})
			numbers[i] = r.Str("submitApplication.application.number")
			if numbers[i] == "" {
				errs[i] = fmt.Errorf("%s", r.Raw)
			}
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	sort.Strings(numbers)
	for i, got := range numbers {
		mustEqual(t, "number", got, fmt.Sprintf("JJ20260610%06d", i+1))
	}
	// The next day starts again at 1.
	w.setClock(t, at(2026, time.June, 11, 0))
	r = w.submit(t, w.clerk, "YLFWQ-SL", res.ID, "", nil)
	mustEqual(t, "next day", r.Str("submitApplication.application.number"), "JJ20260611000001")
}

// TestIntake: who may take in what, and where it is handled.
func TestIntake(t *testing.T) {
	w := newWorld(t, at(2026, time.July, 6, 10))
	e := w.e
	resA := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	resB := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104023001"})
	tokA := residentToken(t, e, resA.ID)
	w.localItem(t)
	local := []map[string]any{{"name": "居民身份证"}, {"name": "近期一寸免冠照片"}, {"name": "居住证明（租赁合同或房产证）"}}
	do := func(tok, item string, applicant uuid.UUID, center string) *testenv.Response {
		in := map[string]any{"itemCode": item, "applicantId": residentGID(applicant), "materials": local}
		if center != "" {
			in["centerId"] = center
		}
		return e.Do(t, tok, submitDoc, map[string]any{"in": in})
	}
	tests := []struct {
		name      string
		tok       func() string
		item      string
		applicant uuid.UUID
		center    string
		wantErr   string // transport
		wantCode  string // userErrors
		wantUnit  string
	}{
		{"clerk of street B, district-wide item for street A", func() string { return w.clerkB }, "GLJT-SL", resA.ID, "", "", "", "510104020"},
		{"resident for themself", func() string { return tokA }, "GLJT-SL", resA.ID, "", "", "", "510104020"},
		{"resident for someone else", func() string { return tokA }, "GLJT-SL", resB.ID, "", "FORBIDDEN", "FORBIDDEN", ""},
		{"resident, local item", func() string { return tokA }, "T-LOCAL", resA.ID, "", "", "OUT_OF_JURISDICTION", ""},
		{"clerk inside, local item", func() string { return w.clerk }, "T-LOCAL", resA.ID, "", "", "", "510104020"},
		{"clerk outside, local item", func() string { return w.clerkB }, "T-LOCAL", resA.ID, "", "", "OUT_OF_JURISDICTION", ""},
		{"case worker inside, local item", func() string { return w.cw2 }, "T-LOCAL", resB.ID, "", "", "", "510104023"},
		{"case worker outside, district-wide item", func() string { return w.cw2 }, "GLJT-SL", resA.ID, "", "", "OUT_OF_JURISDICTION", ""},
		{"operator", func() string { return w.operator }, "GLJT-SL", resA.ID, "", "FORBIDDEN", "FORBIDDEN", ""},
		{"auditor", func() string { return w.auditor }, "GLJT-SL", resA.ID, "", "FORBIDDEN", "FORBIDDEN", ""},
		{"unknown item", func() string { return w.clerk }, "NO-SUCH", resA.ID, "", "", "NOT_FOUND", ""},
		{"unknown resident", func() string { return w.clerk }, "GLJT-SL", uuid.Must(uuid.NewV7()), "", "", "NOT_FOUND", ""},
		{"not a center id", func() string { return w.clerk }, "GLJT-SL", resA.ID, relay.ID("OrgUnit", uuid.Must(uuid.NewV7())), "BAD_USER_INPUT", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before int64
			testenv.MustScan(t, e.DB, "SELECT count(*) FROM applications", nil, &before)
			r := do(tc.tok(), tc.item, tc.applicant, tc.center)
			mustEqual(t, "error", r.ErrorCode(), tc.wantErr)
			mustEqual(t, "user error", r.Str("submitApplication.userErrors.0.code"), tc.wantCode)
			var after int64
			testenv.MustScan(t, e.DB, "SELECT count(*) FROM applications", nil, &after)
			if tc.wantUnit == "" {
				mustEqual(t, "nothing stored", after, before)
				return
			}
			mustEqual(t, "stored", after, before+1)
			mustEqual(t, "handling unit", r.Str("submitApplication.application.handlingUnit.code"), tc.wantUnit)
		})
	}
	t.Run("department decides when set", func(t *testing.T) {
		r := e.MustDo(t, w.admin, upsertDoc, map[string]any{"in": map[string]any{"code": "T-DEPT", "name": "区级事项",
			"departmentId": relay.ID("OrgUnit", unitID(t, e, "510104023")), "timeLimitWorkingDays": 10, "materials": []any{}, "districtWide": true}})
		mustEqual(t, "department", r.Str("upsertServiceItem.item.department.code"), "510104023")
		r = w.submit(t, w.clerk, "T-DEPT", resA.ID, "春熙路街道便民服务中心", nil)
		mustEqual(t, "handling unit", r.Str("submitApplication.application.handlingUnit.code"), "510104023")
		mustEqual(t, "center", r.Str("submitApplication.application.center.name"), "春熙路街道便民服务中心")
	})
	t.Run("duplicate material", func(t *testing.T) {
		r := e.MustDo(t, w.clerk, submitDoc, map[string]any{"in": map[string]any{"itemCode": "GLJT-SL", "applicantId": residentGID(resA.ID),
			"materials": []map[string]any{{"name": "户口簿"}, {"name": " 户口簿 "}}}})
		mustEqual(t, "code", r.Str("submitApplication.userErrors.0.code"), "DUPLICATE")
	})
}

// TestResidentSeesOnlyOwn: in the mini-program a resident lists and reads
// their own applications only, with status, deadline and history.
func TestResidentSeesOnlyOwn(t *testing.T) {
	w := newWorld(t, at(2026, time.August, 3, 10))
	e := w.e
	resA := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	resB := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104023001"})
	tokA, tokB := residentToken(t, e, resA.ID), residentToken(t, e, resB.ID)
	own := w.submit(t, tokA, "YLFWQ-SL", resA.ID, "", allMaterials).Str("submitApplication.application.id")
	w.mustMove(t, w.clerk, own, "ACCEPT", "")
	w.submit(t, w.clerk, "YLFWQ-SL", resA.ID, "春熙路街道便民服务中心", allMaterials)
	other := w.submit(t, tokB, "GLJT-SL", resB.ID, "", nil).Str("submitApplication.application.id")

	const list = `{ applications(first: 10) { totalCount edges { node { id status deadline applicant { name } events { action } } } } }`
	r := e.MustDo(t, tokA, list, nil)
	mustEqual(t, "resident A total", r.Get("applications.totalCount"), any(float64(2)))
	for _, ed := range r.Get("applications.edges").([]any) {
		if ed.(map[string]any)["node"].(map[string]any)["id"] == other {
			t.Fatal("resident A sees B's application")
		}
	}
	// Newest first: the clerk's submission, then the accepted one with its deadline.
	mustEqual(t, "second is own", r.Str("applications.edges.1.node.id"), own)
	mustEqual(t, "deadline", r.Str("applications.edges.1.node.deadline"), "2026-08-24")
	mustEqual(t, "history", r.Str("applications.edges.1.node.events.0.action"), "SUBMIT")
	mustEqual(t, "history", r.Str("applications.edges.1.node.events.1.action"), "ACCEPT")
	// Filtering by someone else's id yields nothing.
	r = e.MustDo(t, tokA, `query($a: ID) { applications(filter: {applicantId: $a}) { totalCount } }`, map[string]any{"a": residentGID(resB.ID)})
	mustEqual(t, "filtered to B", r.Get("applications.totalCount"), any(float64(0)))
	const one = `query($id: ID!) { application(id: $id) { id } node(id: $id) { id } }`
	r = e.MustDo(t, tokA, one, map[string]any{"id": other})
	if r.Get("application") != nil || r.Get("node") != nil {
		t.Fatalf("resident A reads B's application: %s", r.Raw)
	}
	mustEqual(t, "own by id", e.MustDo(t, tokA, one, map[string]any{"id": own}).Str("node.id"), own)

	// Staff visibility: clerks district-wide, case workers their subtree.
	const byApplicant = `query($a: ID) { applications(filter: {applicantId: $a}, first: 10) { totalCount } }`
	count := func(tok string, res uuid.UUID) any {
		return e.MustDo(t, tok, byApplicant, map[string]any{"a": residentGID(res)}).Get("applications.totalCount")
	}
	mustEqual(t, "clerk A", count(w.clerk, resA.ID), any(float64(2)))
	mustEqual(t, "clerk B", count(w.clerk, resB.ID), any(float64(1)))
	mustEqual(t, "caseworker A for A", count(w.cw, resA.ID), any(float64(2)))
	mustEqual(t, "caseworker A for B", count(w.cw, resB.ID), any(float64(0)))
	mustEqual(t, "caseworker B for A", count(w.cw2, resA.ID), any(float64(0)))
	mustEqual(t, "caseworker B for B", count(w.cw2, resB.ID), any(float64(1)))
	mustEqual(t, "operator", e.Do(t, w.operator, list, nil).ErrorCode(), "FORBIDDEN")
	if e.MustDo(t, w.cw2, one, map[string]any{"id": own}).Get("application") != nil {
		t.Fatal("street B case worker reads street A's application")
	}

	// Paging: first 1, then after.
	const paged = `query($a: ID, $after: String) { applications(filter: {applicantId: $a}, first: 1, after: $after) {
	  totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }`
	r = e.MustDo(t, w.clerk, paged, map[string]any{"a": residentGID(resA.ID)})
	mustEqual(t, "has next", r.Get("applications.pageInfo.hasNextPage"), any(true))
	mustEqual(t, "total", r.Get("applications.totalCount"), any(float64(2)))
	r = e.MustDo(t, w.clerk, paged, map[string]any{"a": residentGID(resA.ID), "after": r.Str("applications.pageInfo.endCursor")})
	mustEqual(t, "last page", r.Get("applications.pageInfo.hasNextPage"), any(false))
	mustEqual(t, "last item", r.Str("applications.edges.0.node.id"), own)

	// Resident.applications (reached here through the applicant).
	const nested = `query($id: ID!) { application(id: $id) { applicant { applications(first: 10) { totalCount edges { node { id } } } } } }`
	mustEqual(t, "resident A's list", e.MustDo(t, tokA, nested, map[string]any{"id": own}).Get("application.applicant.applications.totalCount"), any(float64(2)))
	mustEqual(t, "resident B's list", e.MustDo(t, w.clerk, nested, map[string]any{"id": other}).Get("application.applicant.applications.totalCount"), any(float64(1)))

	// The resident withdraws their own.
	r = w.mustMove(t, tokA, own, "WITHDRAW", "不需要了")
	mustEqual(t, "withdrawn", r.Str("transitionApplication.application.status"), "WITHDRAWN")
}

// TestCatalog: the seeded catalog, upsert by code, and validation.
func TestCatalog(t *testing.T) {
	w := newWorld(t, at(2026, time.May, 6, 10))
	e := w.e
	r := e.MustDo(t, w.clerk, `{ serviceItems { code name districtWide timeLimitWorkingDays materials { name required } } }`, nil)
	got := map[string]bool{}
	for _, it := range r.Get("serviceItems").([]any) {
		m := it.(map[string]any)
		got[m["name"].(string)] = m["districtWide"].(bool)
		if len(m["materials"].([]any)) == 0 && m["code"].(string)[:2] != "T-" {
			t.Errorf("%s has no materials", m["name"])
		}
	}
	for name, wide := range map[string]bool{"养老服务券申领": true, "高龄津贴申领": true, "残疾人两项补贴申请": true,
		"居家养老服务申请": true, "困难群众临时救助": true, "居住证办理": false} {
		if dw, ok := got[name]; !ok || dw != wide {
			t.Errorf("catalog item %s: present %v, districtWide %v", name, ok, dw)
		}
	}

	in := map[string]any{"code": "T-CAT", "name": "测试事项", "timeLimitWorkingDays": 20, "extensionWorkingDays": 10,
		"materials": []map[string]any{{"name": "居民身份证", "required": true}}, "districtWide": true,
		"voucherProgramId": relay.ID("VoucherProgram", uuid.Must(uuid.NewV7()))}
	mustEqual(t, "clerk upserts", e.Do(t, w.clerk, upsertDoc, map[string]any{"in": in}).ErrorCode(), "FORBIDDEN")
	unknown := e.MustDo(t, w.admin, upsertDoc, map[string]any{"in": in})
	mustEqual(t, "unknown program", unknown.Str("upsertServiceItem.userErrors.0.code"), "NOT_FOUND")
	var program uuid.UUID
	if err := e.DB.Raw("SELECT id FROM voucher_programs WHERE code = 'JJ-YLFWQ'").Row().Scan(&program); err != nil {
		t.Fatal(err)
	}
	in["voucherProgramId"] = relay.ID("VoucherProgram", program)
	r = e.MustDo(t, w.admin, upsertDoc, map[string]any{"in": in})
	id := r.Str("upsertServiceItem.item.id")
	mustEqual(t, "created", r.Str("upsertServiceItem.item.code"), "T-CAT")
	in["name"], in["timeLimitWorkingDays"] = "测试事项（改）", 30
	r = e.MustDo(t, w.admin, upsertDoc, map[string]any{"in": in})
	mustEqual(t, "same id", r.Str("upsertServiceItem.item.id"), id)
	mustEqual(t, "updated name", r.Str("upsertServiceItem.item.name"), "测试事项（改）")
	mustEqual(t, "updated limit", r.Get("upsertServiceItem.item.timeLimitWorkingDays"), any(float64(30)))
	var stored uuid.UUID
	_, itemID, _ := relay.Parse(id)
	testenv.MustScan(t, e.DB, "SELECT voucher_program_id FROM service_items WHERE id = ?", testenv.Args(itemID), &stored)
	if stored != program {
		t.Fatal("voucher program not stored")
	}

	bad := []struct {
		name  string
		edit  func(m map[string]any)
		code  string
		field string
	}{
		{"time limit 0", func(m map[string]any) { m["timeLimitWorkingDays"] = 0 }, "INVALID", "timeLimitWorkingDays"},
		{"time limit 366", func(m map[string]any) { m["timeLimitWorkingDays"] = 366 }, "INVALID", "timeLimitWorkingDays"},
		{"negative extension", func(m map[string]any) { m["extensionWorkingDays"] = -1 }, "INVALID", "extensionWorkingDays"},
		{"duplicate materials", func(m map[string]any) {
			m["materials"] = []map[string]any{{"name": "户口簿", "required": true}, {"name": "户口簿", "required": false}}
		}, "DUPLICATE", "materials"},
		{"empty material", func(m map[string]any) { m["materials"] = []map[string]any{{"name": " ", "required": true}} }, "INVALID", "materials"},
		{"bad code", func(m map[string]any) { m["code"] = "有空格 code" }, "INVALID", "code"},
		{"empty name", func(m map[string]any) { m["name"] = "" }, "INVALID", "name"},
		{"department not an org unit", func(m map[string]any) { m["departmentId"] = relay.ID("OrgUnit", uuid.Must(uuid.NewV7())) }, "NOT_FOUND", "departmentId"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]any{"code": "T-BAD", "name": "坏事项", "timeLimitWorkingDays": 10, "materials": []any{}, "districtWide": false}
			tc.edit(m)
			r := e.MustDo(t, w.admin, `mutation($in: ServiceItemInput!) { upsertServiceItem(input: $in) { item { id } userErrors { code field } } }`, map[string]any{"in": m})
			mustEqual(t, "code", r.Str("upsertServiceItem.userErrors.0.code"), tc.code)
			// Field paths start at the argument: ["input", field].
			mustEqual(t, "field", r.Str("upsertServiceItem.userErrors.0.field.1"), tc.field)
			var n int64
			testenv.MustScan(t, e.DB, "SELECT count(*) FROM service_items WHERE code = 'T-BAD'", nil, &n)
			mustEqual(t, "not stored", n, int64(0))
		})
	}
	// node(id:) resolves a service item.
	mustEqual(t, "node", e.MustDo(t, w.clerk, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id}).Str("node.id"), id)
}

// recordingEnroller stands in for the voucher domain: it writes inside the
// caller's transaction, so a rollback undoes it.
type recordingEnroller struct {
	mu   sync.Mutex
	fail bool
}

func (r *recordingEnroller) EnrollNewTx(ctx context.Context, tx *gorm.DB, programID, residentID uuid.UUID) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return false, problem.New(problem.NotEligible, "the resident does not match the program's rules")
	}
	return false, tx.WithContext(ctx).Exec(`INSERT INTO audit_log (id, at, actor_kind, actor_id, action, entity, entity_id, request_id)
		VALUES (?, now(), 'SYSTEM', ?, 'test.enroll', 'voucher_program', ?, '')`, uuid.Must(uuid.NewV7()), residentID, programID).Error
}

func (r *recordingEnroller) UnenrollTx(context.Context, *gorm.DB, uuid.UUID, uuid.UUID) error {
	return nil
}

// TestApprovalEnrolls: approving an item linked to a voucher program
// enrolls the applicant in the same transaction; a failed enrolment leaves
// the application in review.
func TestApprovalEnrolls(t *testing.T) {
	w := newWorld(t, at(2026, time.April, 7, 10))
	e := w.e
	rec := &recordingEnroller{}
	e.App.Application.SetEnroller(rec)
	var program uuid.UUID
	if err := e.DB.Raw("SELECT id FROM voucher_programs WHERE code = 'JJ-YLFWQ'").Row().Scan(&program); err != nil {
		t.Fatal(err)
	}
	e.MustDo(t, w.admin, upsertDoc, map[string]any{"in": map[string]any{"code": "T-VP", "name": "养老服务券申领（测试）",
		"timeLimitWorkingDays": 15, "materials": []any{}, "districtWide": true, "voucherProgramId": relay.ID("VoucherProgram", program)}})
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}})
	enrolled := func() int64 {
		var n int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'test.enroll' AND entity_id = ? AND actor_id = ?", testenv.Args(program, res.ID), &n)
		return n
	}

	id := w.submit(t, w.clerk, "T-VP", res.ID, "", nil).Str("submitApplication.application.id")
	w.mustMove(t, w.clerk, id, "ACCEPT", "")
	w.mustMove(t, w.cw, id, "START_REVIEW", "")
	rec.fail = true
	r := w.move(t, w.cw, id, "APPROVE", "", nil)
	mustEqual(t, "refused", r.Str("transitionApplication.userErrors.0.code"), "NOT_ELIGIBLE")
	mustEqual(t, "still in review", status(t, e, id), "IN_REVIEW")
	mustEqual(t, "not enrolled", enrolled(), int64(0))
	rec.fail = false
	w.mustMove(t, w.cw, id, "APPROVE", "")
	mustEqual(t, "approved", status(t, e, id), "APPROVED")
	mustEqual(t, "enrolled once", enrolled(), int64(1))

	// An item without a program enrolls nobody.
	id = w.submit(t, w.clerk, "GLJT-SL", res.ID, "", []map[string]any{{"name": "居民身份证"}, {"name": "户口簿"}, {"name": "银行卡（社保卡）复印件"}}).Str("submitApplication.application.id")
	w.mustMove(t, w.clerk, id, "ACCEPT", "")
	w.mustMove(t, w.cw, id, "START_REVIEW", "")
	rec.fail = true // would refuse if it were called
	w.mustMove(t, w.cw, id, "APPROVE", "")
}

// TestApprovalEnrollsForNextIssuance goes across domains with the real
// voucher service: approving 养老服务券申领 enrolls the applicant in
// JJ-YLFWQ in the same transaction, so the next monthly issuance pays them.
func TestApprovalEnrollsForNextIssuance(t *testing.T) {
	w := newWorld(t, at(2026, time.April, 7, 10))
	e := w.e
	res := e.InsertResident(t, testenv.ResidentSpec{BirthDate: time.Date(1941, 3, 2, 0, 0, 0, 0, time.UTC)}) // 85: the age rule pays 10,000 fen
	var program uuid.UUID
	if err := e.DB.Raw("SELECT id FROM voucher_programs WHERE code = 'JJ-YLFWQ'").Row().Scan(&program); err != nil {
		t.Fatal(err)
	}
	pgid := relay.ID("VoucherProgram", program)
	item := e.MustDo(t, w.clerk, `{serviceItems{code voucherProgram{id code}}}`, nil)
	for i := range item.Get("serviceItems").([]any) {
		if item.Str("serviceItems."+strconv.Itoa(i)+".code") == "YLFWQ-SL" {
			mustEqual(t, "item links the program", item.Str("serviceItems."+strconv.Itoa(i)+".voucherProgram.code"), "JJ-YLFWQ")
		}
	}
	issue := `mutation($p:ID!,$m:String!){issueVouchers(input:{programId:$p,period:$m,allowBackfill:true}){issuedCount userErrors{code}}}`
	balance := func() float64 {
		r := e.MustDo(t, w.admin, `query($id:ID!,$p:ID){resident(id:$id){voucherBalanceFen(programId:$p)}}`, map[string]any{"id": residentGID(res.ID), "p": pgid})
		f, _ := r.Get("resident.voucherBalanceFen").(float64)
		return f
	}
	e.MustDo(t, w.admin, issue, map[string]any{"p": pgid, "m": "2026-04"})
	mustEqual(t, "no voucher before approval", balance(), 0.0)

	id := w.submit(t, w.clerk, "YLFWQ-SL", res.ID, "", allMaterials).Str("submitApplication.application.id")
	w.mustMove(t, w.clerk, id, "ACCEPT", "")
	w.mustMove(t, w.cw, id, "START_REVIEW", "")
	w.mustMove(t, w.cw, id, "APPROVE", "")
	r := e.MustDo(t, w.admin, issue, map[string]any{"p": pgid, "m": "2026-04"})
	mustEqual(t, "issued to the new enrollee", r.Get("issueVouchers.issuedCount"), any(float64(1)))
	mustEqual(t, "balance after issuance", balance(), 10000.0)
}

// BenchmarkSubmitAndList measures intake (numbering included) and a page of
// 20 applications with their nested fields through the HTTP handler.
func BenchmarkSubmitAndList(b *testing.B) {
	e := testenv.New(b)
	e.Clock.Set(at(2026, time.December, 1, 10))
	tok := e.As(b, "clerk")
	res := e.InsertResident(b, testenv.ResidentSpec{Statuses: []string{}})
	in := map[string]any{"in": map[string]any{"itemCode": "YLFWQ-SL", "applicantId": residentGID(res.ID), "materials": allMaterials}}
	b.Run("submit", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if r := e.Do(b, tok, submitDoc, in); r.Str("submitApplication.application.number") == "" {
				b.Fatalf("submit: %s", r.Raw)
			}
		}
	})
	b.Run("list20", func(b *testing.B) {
		q := `{ applications(first: 20) { totalCount edges { node { number status overdue item { name } applicant { name }
		  handlingUnit { name } center { name } events { action } } } } }`
		for i := 0; i < b.N; i++ {
			e.MustDo(b, tok, q, nil)
		}
	})
}
