package application_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/config"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestWithdrawalUndoesEnrollment: approving 养老服务券申领 enrolls the
// applicant in JJ-YLFWQ; withdrawing after approval takes that enrollment
// back in the same transaction, but not one the approval did not create.
func TestWithdrawalUndoesEnrollment(t *testing.T) {
	w := newWorld(t, at(2026, time.June, 1, 10))
	e := w.e
	var program uuid.UUID
	testenv.MustScan(t, e.DB, "SELECT id FROM voucher_programs WHERE code = 'JJ-YLFWQ'", nil, &program)
	enrolled := func(res uuid.UUID) bool {
		var n int64
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM voucher_enrollments WHERE program_id = ? AND resident_id = ?", testenv.Args(program, res), &n)
		return n == 1
	}
	approved := func(res uuid.UUID) string {
		id := w.submit(t, w.clerk, "YLFWQ-SL", res, "", allMaterials).Str("submitApplication.application.id")
		for _, step := range []string{"ACCEPT", "START_REVIEW", "APPROVE"} {
			w.mustMove(t, map[bool]string{true: w.clerk, false: w.cw}[step == "ACCEPT"], id, step, "ok")
		}
		return id
	}
	fresh := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	id := approved(fresh.ID)
	if !enrolled(fresh.ID) {
		t.Fatal("approval did not enroll")
	}
	w.mustMove(t, w.clerk, id, "WITHDRAW", "申请人撤回")
	if enrolled(fresh.ID) {
		t.Fatal("withdrawal after approval left the enrollment")
	}

	// Enrolled before: the approval created nothing, so the withdrawal undoes nothing.
	before := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	if err := e.DB.Exec("INSERT INTO voucher_enrollments (program_id, resident_id, enrolled_at) VALUES (?, ?, now())", program, before.ID).Error; err != nil {
		t.Fatal(err)
	}
	id = approved(before.ID)
	w.mustMove(t, w.clerk, id, "WITHDRAW", "申请人撤回")
	if !enrolled(before.ID) {
		t.Fatal("withdrawal removed an enrollment the approval did not create")
	}
}

// TestProvisionalDeadlineAndImport: a deadline reaching into 2027 (not
// loaded) is computed on weekends alone and flagged; importCalendarYear
// (ADMIN, audited) recomputes it as a run.
func TestProvisionalDeadlineAndImport(t *testing.T) {
	w := newWorld(t, at(2026, time.December, 28, 10))
	e := w.e
	w.shortItem(t, "T-YE5", 0)
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	id := w.submit(t, w.clerk, "T-YE5", res.ID, "", idCard).Str("submitApplication.application.id")
	w.mustMove(t, w.clerk, id, "ACCEPT", "")
	q := w.law(t, w.clerk, id)
	// 12-29, 12-30, 12-31, Friday 2027-01-01 (weekends only: a working day), Monday 01-04.
	mustEqual(t, "provisional deadline", q.Str("application.deadline"), "2027-01-04")
	mustEqual(t, "flagged", q.Get("application.deadlineProvisional"), any(true))
	inside := w.submit(t, w.clerk, "T-YE5", res.ID, "", idCard).Str("submitApplication.application.id")
	w.setClock(t, at(2026, time.December, 1, 10))
	w.mustMove(t, w.clerk, inside, "ACCEPT", "")
	mustEqual(t, "inside 2026", w.law(t, w.clerk, inside).Get("application.deadlineProvisional"), any(false))

	const imp = `mutation($y: Int!, $d: [CalendarDayInput!]!) { importCalendarYear(year: $y, days: $d) {
	  year days recomputation { id status } userErrors { code field } } }`
	days := []map[string]any{{"date": "2027-01-01", "kind": "HOLIDAY"}, {"date": "2027-02-06", "kind": "WORKDAY"}}
	r := e.Do(t, w.clerk, imp, map[string]any{"y": 2027, "d": days})
	mustEqual(t, "clerk imports", r.ErrorCode(), "FORBIDDEN")
	r = e.MustDo(t, w.admin, imp, map[string]any{"y": 2027, "d": []map[string]any{{"date": "2026-01-01", "kind": "HOLIDAY"}}})
	mustEqual(t, "a day of another year", r.Str("importCalendarYear.userErrors.0.code"), "INVALID")
	r = e.MustDo(t, w.admin, imp, map[string]any{"y": 2027, "d": days})
	mustEqual(t, "days", r.Get("importCalendarYear.days"), any(float64(2)))
	rid := r.Str("importCalendarYear.recomputation.id")
	_, runID, _ := relay.Parse(rid)
	if _, err := e.App.Runs.Wait(context.Background(), runID, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	r = e.MustDo(t, w.admin, `query($id: ID!) { deadlineRecomputation(id: $id) { status done changed } calendarYears }`, map[string]any{"id": rid})
	mustEqual(t, "run", r.Str("deadlineRecomputation.status"), "SUCCEEDED")
	if r.Get("deadlineRecomputation.changed").(float64) < 1 {
		t.Fatalf("nothing recomputed: %s", r.Raw)
	}
	mustEqual(t, "years", len(r.Get("calendarYears").([]any)), 2)
	q = w.law(t, w.clerk, id)
	// 2027-01-01 is now a holiday: 12-29, 12-30, 12-31, 01-04, 01-05.
	mustEqual(t, "recomputed deadline", q.Str("application.deadline"), "2027-01-05")
	mustEqual(t, "no longer provisional", q.Get("application.deadlineProvisional"), any(false))
	var n int64
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'importCalendarYear'", nil, &n)
	if n < 2 {
		t.Fatalf("importCalendarYear audit entries = %d, want the import and the run's end", n)
	}
}

// TestCounterQueue: #24's queue: several statuses, open, center, item,
// submitted from/to, deadline before, ordering by deadline, idempotent
// submission, availableActions, viewerCanSubmit and internal events.
func TestCounterQueue(t *testing.T) {
	w := newWorld(t, at(2026, time.August, 3, 10))
	e := w.e
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104023002"})
	tok := residentToken(t, e, res.ID)
	center := centerGID(t, e, "牛市口街道便民服务中心")
	submit := func(key string, item string) *testenv.Response {
		mats := allMaterials
		if item == "GLJT-SL" {
			mats = append([]map[string]any{{"name": "银行卡（社保卡）复印件"}}, allMaterials...)
		}
		in := map[string]any{"itemCode": item, "applicantId": residentGID(res.ID), "materials": mats, "centerId": center}
		if key != "" {
			in["idempotencyKey"] = key
		}
		return e.MustDo(t, w.clerkB, submitDoc, map[string]any{"in": in})
	}
	// Idempotency: same key and input, the first application; another input, IDEMPOTENCY_MISMATCH.
	first := submit("k-1", "YLFWQ-SL").Str("submitApplication.application.id")
	mustEqual(t, "retry", submit("k-1", "YLFWQ-SL").Str("submitApplication.application.id"), first)
	mustEqual(t, "mismatch", submit("k-1", "GLJT-SL").Str("submitApplication.userErrors.0.code"), "IDEMPOTENCY_MISMATCH")
	var n int64
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM applications WHERE applicant_id = ?", testenv.Args(res.ID), &n)
	mustEqual(t, "one application", n, int64(1))

	w.setClock(t, at(2026, time.August, 5, 10))
	second := submit("", "GLJT-SL").Str("submitApplication.application.id")
	third := submit("", "YLFWQ-SL").Str("submitApplication.application.id")
	w.mustMove(t, w.clerkB, first, "ACCEPT", "")  // 08-03 + 15 = 08-24 (accepted 08-05: 08-26)
	w.mustMove(t, w.clerkB, second, "ACCEPT", "") // 08-05 + 20 = 09-02
	w.mustMove(t, w.clerkB, third, "REJECT", "不符合条件")

	const list = `query($f: ApplicationFilter) { applications(filter: $f, first: 10) { totalCount edges { node { id status deadline } } } }`
	count := func(f map[string]any) float64 {
		t.Helper()
		f["applicantId"] = residentGID(res.ID)
		return e.MustDo(t, w.clerkB, list, map[string]any{"f": f}).Get("applications.totalCount").(float64)
	}
	mustEqual(t, "statuses", count(map[string]any{"statuses": []string{"ACCEPTED", "REJECTED"}}), 3)
	mustEqual(t, "open", count(map[string]any{"open": true}), 2)
	mustEqual(t, "concluded", count(map[string]any{"open": false}), 1)
	mustEqual(t, "center", count(map[string]any{"centerId": center}), 3)
	mustEqual(t, "other center", count(map[string]any{"centerId": centerGID(t, e, "春熙路街道便民服务中心")}), 0)
	var item uuid.UUID
	testenv.MustScan(t, e.DB, "SELECT id FROM service_items WHERE code = 'GLJT-SL'", nil, &item)
	mustEqual(t, "item", count(map[string]any{"itemId": relay.ID("ServiceItem", item)}), 1)
	mustEqual(t, "submitted on 08-03", count(map[string]any{"submittedFrom": "2026-08-03", "submittedTo": "2026-08-03"}), 1)
	mustEqual(t, "submitted from 08-04", count(map[string]any{"submittedFrom": "2026-08-04"}), 2)
	mustEqual(t, "deadline before 09-02", count(map[string]any{"deadlineBefore": "2026-09-02"}), 1)
	mustEqual(t, "deadline before 09-03", count(map[string]any{"deadlineBefore": "2026-09-03"}), 2)

	r := e.MustDo(t, w.clerkB, list, map[string]any{"f": map[string]any{"applicantId": residentGID(res.ID), "orderBy": "DEADLINE_FIRST"}})
	mustEqual(t, "nearest first", r.Str("applications.edges.0.node.id"), first)
	mustEqual(t, "then", r.Str("applications.edges.1.node.id"), second)
	mustEqual(t, "no deadline last", r.Str("applications.edges.2.node.id"), third)
	const paged = `query($f: ApplicationFilter, $a: String) { applications(filter: $f, first: 1, after: $a) { edges { node { id } } pageInfo { endCursor } } }`
	f := map[string]any{"applicantId": residentGID(res.ID), "orderBy": "DEADLINE_FIRST"}
	p1 := e.MustDo(t, w.clerkB, paged, map[string]any{"f": f})
	p2 := e.MustDo(t, w.clerkB, paged, map[string]any{"f": f, "a": p1.Str("applications.pageInfo.endCursor")})
	mustEqual(t, "page 2", p2.Str("applications.edges.0.node.id"), second)
	p3 := e.MustDo(t, w.clerkB, paged, map[string]any{"f": f, "a": p2.Str("applications.pageInfo.endCursor")})
	mustEqual(t, "page 3", p3.Str("applications.edges.0.node.id"), third)

	// What each viewer may do, from the one policy.
	acts := func(tok, id string) []any {
		return w.law(t, tok, id).Get("application.availableActions").([]any)
	}
	mustEqual(t, "clerk on accepted", len(acts(w.clerkB, first)), 1) // WITHDRAW (review is the street's case worker's)
	if !contains(acts(w.clerkB, first), "WITHDRAW") {
		t.Fatal("clerk cannot withdraw")
	}
	cwB := w.cw2
	got := acts(cwB, first)
	for _, want := range []string{"START_REVIEW", "PAUSE_CLOCK"} {
		if !contains(got, want) {
			t.Fatalf("case worker lacks %s: %v", want, got)
		}
	}
	if contains(got, "EXTEND") || contains(got, "RESUME_CLOCK") {
		t.Fatalf("case worker offered %v", got)
	}
	if !contains(acts(w.admin, first), "EXTEND") {
		t.Fatal("admin not offered EXTEND")
	}
	mustEqual(t, "applicant", len(acts(tok, first)), 1)
	mustEqual(t, "rejected: nothing", len(acts(w.admin, third)), 0)

	// viewerCanSubmit.
	const items = `{ serviceItems { code viewerCanSubmit } }`
	canSubmit := func(tok, code string) bool {
		for _, x := range e.MustDo(t, tok, items, nil).Get("serviceItems").([]any) {
			if m := x.(map[string]any); m["code"] == code {
				return m["viewerCanSubmit"] == true
			}
		}
		t.Fatalf("no item %s", code)
		return false
	}
	mustEqual(t, "resident, district-wide", canSubmit(tok, "YLFWQ-SL"), true)
	mustEqual(t, "resident, 居住证", canSubmit(tok, "JZZ-BL"), false)
	mustEqual(t, "clerk, district-wide", canSubmit(w.clerkB, "YLFWQ-SL"), true)
	mustEqual(t, "operator", canSubmit(w.operator, "YLFWQ-SL"), false)
	mustEqual(t, "auditor", canSubmit(w.auditor, "YLFWQ-SL"), false)

	// The hand-over to review is internal: staff see it, the applicant does not.
	w.mustMove(t, cwB, first, "START_REVIEW", "转交审核")
	staff := w.law(t, cwB, first).Get("application.events").([]any)
	own := w.law(t, tok, first).Get("application.events").([]any)
	mustEqual(t, "staff events", len(staff), 3)
	mustEqual(t, "submit event", staff[0].(map[string]any)["action"], any("SUBMIT"))
	mustEqual(t, "internal", staff[2].(map[string]any)["visibility"], any("INTERNAL"))
	mustEqual(t, "applicant events", len(own), 2)
	// Working days left and missing materials.
	q := w.law(t, cwB, second)
	mustEqual(t, "days left", q.Get("application.workingDaysLeft"), any(float64(20)))
	mustEqual(t, "nothing missing", len(q.Get("application.missingMaterials").([]any)), 0)
	bare := w.submit(t, w.clerkB, "GLJT-SL", res.ID, "", []map[string]any{{"name": "户口簿"}}).Str("submitApplication.application.id")
	q = w.law(t, w.clerkB, bare)
	mustEqual(t, "missing", len(q.Get("application.missingMaterials").([]any)), 2)
	mustEqual(t, "missing first", q.Str("application.missingMaterials.0"), "居民身份证")
	if q.Get("application.workingDaysLeft") != nil {
		t.Fatalf("days left without a deadline: %s", q.Raw)
	}
}

// TestNotices: the written notices as PDF, for the applicant and for
// staff, over authenticated HTTP, audited; nobody else gets them.
func TestNotices(t *testing.T) {
	if _, err := os.Stat(config.DefaultNoticeFont); err != nil {
		t.Skipf("the notice font %s is not installed (Debian package fonts-droid-fallback): %v", config.DefaultNoticeFont, err)
	}
	w := newWorld(t, at(2026, time.September, 1, 10))
	e := w.e
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	other := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	tok, otherTok := residentToken(t, e, res.ID), residentToken(t, e, other.ID)
	id := w.submit(t, tok, "YLFWQ-SL", res.ID, "", allMaterials[:1]).Str("submitApplication.application.id")
	w.mustMove(t, w.clerk, id, "REQUEST_SUPPLEMENT", "缺户口簿")
	if r := w.move(t, tok, id, "RESUBMIT", "", []map[string]any{{"name": "户口簿"}}); r.Str("transitionApplication.application.status") != "SUBMITTED" {
		t.Fatalf("resubmit: %s", r.Raw)
	}
	w.mustMove(t, w.clerk, id, "ACCEPT", "")
	w.mustMove(t, w.cw, id, "START_REVIEW", "")
	w.mustMove(t, w.cw, id, "DENY", "年龄未满六十周岁")
	r := e.MustDo(t, tok, `query($id: ID!) { application(id: $id) { notices { kind url } } }`, map[string]any{"id": id})
	notices := r.Get("application.notices").([]any)
	mustEqual(t, "notices", len(notices), 3) // 补正, 受理, 不予决定
	get := func(tok, url string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, e.Server.URL+url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := e.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, x := range notices {
		url := x.(map[string]any)["url"].(string)
		for _, who := range []string{tok, w.clerk} {
			code, body := get(who, url)
			if code != http.StatusOK || !bytes.HasPrefix(body, []byte("%PDF-")) {
				t.Fatalf("%s: %d %q", url, code, body[:min(len(body), 80)])
			}
		}
		if code, _ := get(otherTok, url); code != http.StatusNotFound {
			t.Fatalf("another resident got %s: %d", url, code)
		}
		if code, _ := get("", url); code != http.StatusUnauthorized {
			t.Fatalf("anonymous got %s: %d", url, code)
		}
	}
	if code, _ := get(tok, "/applications/"+id+"/notices/rejection.pdf"); code != http.StatusNotFound {
		t.Fatalf("a notice the application does not have: %d", code)
	}
	var n int64
	_, appID, _ := relay.Parse(id)
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'notices' AND entity_id = ?", testenv.Args(appID), &n)
	mustEqual(t, "downloads audited", n, int64(6))
}

// TestSeededResidencePermit: 居住证办理 is decided by the district's
// public-security branch (a DEPARTMENT) with its own 15-day limit
// (居住证暂行条例 §11), not by the applicant's street.
func TestSeededResidencePermit(t *testing.T) {
	w := newWorld(t, at(2026, time.July, 1, 10))
	r := w.e.MustDo(t, w.clerk, `{ serviceItems { code timeLimitWorkingDays districtWide department { code kind name } } }`, nil)
	for _, x := range r.Get("serviceItems").([]any) {
		m := x.(map[string]any)
		if m["code"] != "JZZ-BL" {
			continue
		}
		d, _ := m["department"].(map[string]any)
		if d == nil || d["kind"] != "DEPARTMENT" || d["name"] != "成都市公安局锦江区分局" || m["timeLimitWorkingDays"] != float64(15) {
			t.Fatalf("居住证办理: %v", m)
		}
		return
	}
	t.Fatal("居住证办理 not seeded")
}
