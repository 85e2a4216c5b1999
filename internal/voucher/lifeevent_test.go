package voucher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/testenv"
	"github.com/jinjiang/residents/internal/voucher"
)

const recordDeathDoc = `mutation($in:RecordDeathInput!){recordDeath(input:$in){
  lifeEvent{kind date detail closed{kind count} reopened{kind count}}
  resident{id deceasedOn movedOutOn lifeEvents{kind undoneAt}}
  userErrors{code field message}}}`

const undoDeathDoc = `mutation($in:UndoDeathInput!){undoDeath(input:$in){
  lifeEvent{kind undoneAt undoReason reopened{kind count}}
  resident{deceasedOn lifeEvents{kind undoneAt}}
  userErrors{code field message}}}`

// counts reads a LifeEventCount list from a response into a map.
func counts(r *testenv.Response, path string) map[string]int {
	out := map[string]int{}
	list, _ := r.Get(path).([]any)
	for _, x := range list {
		m := x.(map[string]any)
		out[m["kind"].(string)] = int(m["count"].(float64))
	}
	return out
}

func scalar[T any](t *testing.T, e *testenv.Env, q string, args ...any) T {
	t.Helper()
	var v T
	if err := e.DB.Raw(q, args...).Row().Scan(&v); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return v
}

// TestRecordDeathClosesEverything: a death recorded through the API voids
// the remaining vouchers (VOID ledger entries; the books still balance),
// ends the enrollments, cancels open disability services, withdraws open
// applications with the reason and deactivates devices, in one go; a
// second report is refused; only the ADMIN undoes it, which re-enrolls and
// reactivates but leaves the vouchers voided; past 30 days no undo.
func TestRecordDeathClosesEverything(t *testing.T) {
	f := newFixture(t, programSpec{})
	e := f.e
	logsOnFail(t, e)
	rid := f.resident(t, testenv.ResidentSpec{})
	if _, _, _, code := f.issue(t, f.period); code != "" {
		t.Fatalf("issue: %s", code)
	}
	before := f.redeem(t, f.provTok, f.token(t, rid), 1000, "death-before", "", "")
	if before.id == "" {
		t.Fatalf("redeem: %s", before.raw)
	}
	// An open disability service, a device and an open application.
	mustExec(t, e, `INSERT INTO disability_services (id, resident_id, kind, status, requested_by) VALUES (?, ?, 'REHABILITATION', 'REQUESTED', ?)`,
		uuid.Must(uuid.NewV7()), rid, uuid.Must(uuid.NewV7()))
	serial := "LIFE-" + uuid.NewString()[:8]
	mustExec(t, e, `INSERT INTO emergency_devices (id, serial, kind, resident_id) VALUES (?, ?, 'BUTTON_BOX', ?)`, uuid.Must(uuid.NewV7()), serial, rid)
	app := e.MustDo(t, f.clerk, `mutation($in:SubmitApplicationInput!){submitApplication(input:$in){application{id status} userErrors{code message}}}`,
		map[string]any{"in": map[string]any{"itemCode": "LSJZ-SQ", "applicantId": residentGID(rid)}})
	if app.Str("submitApplication.application.status") != "SUBMITTED" {
		t.Fatalf("submit: %s", app.Raw)
	}
	// The family: the bound account and proxies of every scope are told;
	// a revoked proxy is not.
	fam := newFamily(t, e, rid)
	told := func(kind string) map[uuid.UUID]int {
		out := map[uuid.UUID]int{}
		for _, to := range []uuid.UUID{fam.own, fam.spender, fam.viewer, fam.revoked} {
			out[to] = e.Notifications(t, rid, kind, "WECHAT", to)
		}
		out[uuid.Nil] = e.Notifications(t, rid, kind, "", uuid.Nil)
		return out
	}
	booksBefore, bad, err := voucher.CheckBooks(context.Background(), e.DB)
	if err != nil || len(bad) > 0 {
		t.Fatalf("books before: %v %v", bad, err)
	}

	today := f.today
	in := func(date, source string) map[string]any {
		return map[string]any{"in": map[string]any{"residentId": residentGID(rid), "date": date, "source": source}}
	}
	// A clerk may not record a death; a case worker outside the resident's street may not either.
	if r := e.Do(t, f.clerk, recordDeathDoc, in(today, "家属申报")); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("clerk: %s", r.Raw)
	}
	// A future date and an empty source are user errors, and change nothing.
	r := e.MustDo(t, f.admin, recordDeathDoc, in("2999-01-01", " "))
	if got := r.Str("recordDeath.userErrors.0.code"); got != "INVALID" || r.Get("recordDeath.userErrors.1") == nil {
		t.Fatalf("bad input: %s", r.Raw)
	}
	if n := scalar[int](t, e, "SELECT count(*) FROM vouchers WHERE resident_id = ? AND status = 'VOIDED'", rid); n != 0 {
		t.Fatalf("a refused report voided %d vouchers", n)
	}
	if n := told("RESIDENT_DECEASED")[uuid.Nil]; n != 0 {
		t.Fatalf("a refused report told the family: %d notices", n)
	}

	r = e.MustDo(t, f.admin, recordDeathDoc, in(today, "医院死亡医学证明"))
	if r.Get("recordDeath.userErrors.0") != nil {
		t.Fatalf("recordDeath: %s", r.Raw)
	}
	if r.Str("recordDeath.resident.deceasedOn") != today || r.Str("recordDeath.lifeEvent.kind") != "DEATH" {
		t.Fatalf("resident after: %s", r.Raw)
	}
	closed := counts(r, "recordDeath.lifeEvent.closed")
	want := map[string]int{"vouchersVoided": 1, "voidedFen": 30000 - 1000, "enrollmentsEnded": 1,
		"disabilityServicesCancelled": 1, "applicationsWithdrawn": 1, "devicesDeactivated": 1, "familyNotified": 3}
	if got := told("RESIDENT_DECEASED"); got[fam.own] != 1 || got[fam.spender] != 1 || got[fam.viewer] != 1 || got[fam.revoked] != 0 || got[uuid.Nil] != 3 {
		t.Errorf("death notices %v, want one to the bound account and each active proxy", got)
	}
	for k, n := range want {
		if closed[k] != n {
			t.Errorf("closed %s = %d, want %d (%v)", k, closed[k], n, closed)
		}
	}
	// What the database says, not only the answer.
	if s := scalar[string](t, e, "SELECT status FROM vouchers WHERE resident_id = ?", rid); s != "VOIDED" {
		t.Errorf("voucher status %s", s)
	}
	if n := scalar[int64](t, e, "SELECT coalesce(sum(amount_fen), 0) FROM voucher_ledger l JOIN vouchers v ON v.id = l.voucher_id WHERE v.resident_id = ? AND l.kind = 'VOID'", rid); n != -29000 {
		t.Errorf("VOID entries sum %d, want -29000", n)
	}
	books, bad, err := voucher.CheckBooks(context.Background(), e.DB)
	if err != nil || len(bad) > 0 {
		t.Fatalf("books after: %v %v", bad, err)
	}
	if books.VoidedFen-booksBefore.VoidedFen != 29000 {
		t.Errorf("books voided %d -> %d", booksBefore.VoidedFen, books.VoidedFen)
	}
	if n := scalar[int](t, e, "SELECT count(*) FROM voucher_enrollments WHERE resident_id = ?", rid); n != 0 {
		t.Errorf("%d enrollments left", n)
	}
	if s := scalar[string](t, e, "SELECT status FROM disability_services WHERE resident_id = ?", rid); s != "CANCELLED" {
		t.Errorf("service %s", s)
	}
	if s := scalar[string](t, e, "SELECT status FROM applications WHERE applicant_id = ?", rid); s != "WITHDRAWN" {
		t.Errorf("application %s", s)
	}
	if note := scalar[string](t, e, "SELECT ev.note FROM application_events ev JOIN applications a ON a.id = ev.application_id WHERE a.applicant_id = ? AND ev.action = 'WITHDRAW'", rid); !strings.Contains(note, "医院死亡医学证明") {
		t.Errorf("withdraw note %q", note)
	}
	if n := scalar[int](t, e, "SELECT count(*) FROM emergency_devices WHERE resident_id = ? AND deactivated_at IS NOT NULL", rid); n != 1 {
		t.Errorf("devices deactivated %d", n)
	}
	// An alarm from the deactivated device no longer names the resident.
	call := e.MustDo(t, e.As(t, "telephony"), `mutation($x:String!,$s:String){receiveEmergencyCall(input:{externalCallId:$x,deviceSerial:$s,kind:ALARM_BUTTON}){call{resident{id} device{id}} userErrors{code}}}`,
		map[string]any{"x": "life-" + serial, "s": serial})
	if call.Get("receiveEmergencyCall.userErrors.0") != nil || call.Get("receiveEmergencyCall.call.resident") != nil || call.Get("receiveEmergencyCall.call.device") != nil {
		t.Errorf("alarm from a deactivated device: %s", call.Raw)
	}
	if n := scalar[int](t, e, "SELECT count(*) FROM audit_log WHERE action = 'recordDeath' AND entity_id = ?", rid); n != 1 {
		t.Errorf("audit entries %d", n)
	}
	// Nothing is spendable any more, and a second report is refused.
	if bal := f.balance(t, rid); bal != 0 {
		t.Errorf("balance %d after death", bal)
	}
	if r := e.MustDo(t, f.admin, recordDeathDoc, in(today, "再次申报")); r.Str("recordDeath.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("second report: %s", r.Raw)
	}
	// A redemption made before the death reversed after it: the money goes
	// back onto the voided voucher and is written off again (VOID).
	rev := e.MustDo(t, f.admin, `mutation($id:ID!){reverseRedemption(input:{redemptionId:$id,reason:"服务未提供"}){redemption{status} userErrors{code}}}`,
		map[string]any{"id": before.id})
	if rev.Str("reverseRedemption.redemption.status") != "REVERSED" {
		t.Fatalf("reverse after death: %s", rev.Raw)
	}
	if n := scalar[int64](t, e, "SELECT coalesce(sum(amount_fen), 0) FROM voucher_ledger l JOIN vouchers v ON v.id = l.voucher_id WHERE v.resident_id = ? AND l.kind = 'VOID'", rid); n != -30000 {
		t.Errorf("VOID entries sum %d after the reversal, want -30000", n)
	}
	if bal := f.balance(t, rid); bal != 0 {
		t.Errorf("balance %d after a reversal onto a voided voucher", bal)
	}
	if _, bad, err := voucher.CheckBooks(context.Background(), e.DB); err != nil || len(bad) > 0 {
		t.Fatalf("books after the reversal: %v %v", bad, err)
	}

	// Only an ADMIN undoes it.
	undo := map[string]any{"in": map[string]any{"residentId": residentGID(rid), "reason": "误报：同名居民"}}
	cw := e.As(t, "caseworker")
	if r := e.Do(t, cw, undoDeathDoc, undo); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("case worker undo: %s", r.Raw)
	}
	r = e.MustDo(t, f.admin, undoDeathDoc, undo)
	if r.Get("undoDeath.userErrors.0") != nil || r.Get("undoDeath.resident.deceasedOn") != nil || r.Str("undoDeath.lifeEvent.undoneAt") == "" {
		t.Fatalf("undo: %s", r.Raw)
	}
	reopened := counts(r, "undoDeath.lifeEvent.reopened")
	if reopened["enrollmentsRestored"] != 1 || reopened["devicesReactivated"] != 1 || reopened["familyNotified"] != 3 {
		t.Errorf("reopened %v", reopened)
	}
	if got := told("RESIDENT_DEATH_UNDONE"); got[fam.own] != 1 || got[fam.spender] != 1 || got[fam.viewer] != 1 || got[fam.revoked] != 0 {
		t.Errorf("undo notices %v", got)
	}
	if n := scalar[int](t, e, "SELECT count(*) FROM voucher_enrollments WHERE resident_id = ?", rid); n != 1 {
		t.Errorf("%d enrollments after undo", n)
	}
	if s := scalar[string](t, e, "SELECT status FROM vouchers WHERE resident_id = ?", rid); s != "VOIDED" {
		t.Errorf("voucher after undo %s", s)
	}
	if _, bad, err := voucher.CheckBooks(context.Background(), e.DB); err != nil || len(bad) > 0 {
		t.Fatalf("books after undo: %v %v", bad, err)
	}
	// Nothing left to undo.
	if r := e.MustDo(t, f.admin, undoDeathDoc, undo); r.Str("undoDeath.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("second undo: %s", r.Raw)
	}

	// Recorded again, and 31 days later the undo is refused.
	if r := e.MustDo(t, f.admin, recordDeathDoc, in(today, "火化证明")); r.Get("recordDeath.userErrors.0") != nil {
		t.Fatalf("record again: %s", r.Raw)
	}
	e.Clock.Set(time.Now().Add(31 * 24 * time.Hour))
	if r := e.MustDo(t, e.Admin(t), undoDeathDoc, undo); r.Str("undoDeath.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("late undo: %s", r.Raw)
	}
}

// TestRecordMoveOut: a move out ends eligibility like a death (the next
// period issues the resident nothing) and records the destination; a case
// worker records it inside their street only.
func TestRecordMoveOut(t *testing.T) {
	f := newFixture(t, programSpec{})
	e := f.e
	logsOnFail(t, e)
	stay := f.resident(t, testenv.ResidentSpec{})
	leave := f.resident(t, testenv.ResidentSpec{})
	fam := newFamily(t, e, leave)
	doc := `mutation($in:RecordMoveOutInput!){recordMoveOut(input:$in){lifeEvent{kind detail closed{kind count}} resident{movedOutOn deceasedOn} userErrors{code field}}}`
	in := map[string]any{"in": map[string]any{"residentId": residentGID(leave), "date": f.today, "destination": "成都市武侯区"}}
	// caseworker2 works in another street (the IDOR matrix's second case worker).
	if r := e.MustDo(t, e.As(t, "caseworker2"), doc, in); r.Str("recordMoveOut.userErrors.0.code") != "OUT_OF_JURISDICTION" {
		t.Fatalf("other street: %s", r.Raw)
	}
	r := e.MustDo(t, e.As(t, "caseworker"), doc, in)
	if r.Get("recordMoveOut.userErrors.0") != nil || r.Str("recordMoveOut.resident.movedOutOn") != f.today ||
		r.Get("recordMoveOut.resident.deceasedOn") != nil || r.Str("recordMoveOut.lifeEvent.detail") != "成都市武侯区" {
		t.Fatalf("move out: %s", r.Raw)
	}
	if c := counts(r, "recordMoveOut.lifeEvent.closed"); c["enrollmentsEnded"] != 1 || c["familyNotified"] != 3 {
		t.Errorf("closed %v", c)
	}
	for _, to := range []uuid.UUID{fam.own, fam.spender, fam.viewer} {
		if n := e.Notifications(t, leave, "RESIDENT_MOVED_OUT", "WECHAT", to); n != 1 {
			t.Errorf("%s was told %d times of the move, want once", to, n)
		}
	}
	if n := e.Notifications(t, leave, "RESIDENT_MOVED_OUT", "WECHAT", fam.revoked); n != 0 {
		t.Errorf("a revoked proxy was told of the move")
	}
	if living := scalar[bool](t, e, "SELECT living FROM resident_facts WHERE id = ?", leave); living {
		t.Error("a resident who moved out is still living in resident_facts")
	}
	// Re-enrolling is refused and the next issuance passes them by.
	re := e.MustDo(t, f.admin, `mutation($p:ID!,$r:ID!){enrollResident(programId:$p,residentId:$r){userErrors{code}}}`,
		map[string]any{"p": f.program, "r": residentGID(leave)})
	if re.Str("enrollResident.userErrors.0.code") != "NOT_ELIGIBLE" {
		t.Fatalf("re-enroll: %s", re.Raw)
	}
	if _, _, _, code := f.issue(t, f.period); code != "" {
		t.Fatalf("issue: %s", code)
	}
	if n := scalar[int](t, e, "SELECT count(*) FROM vouchers WHERE resident_id = ?", leave); n != 0 {
		t.Errorf("moved-out resident got %d vouchers", n)
	}
	if n := scalar[int](t, e, "SELECT count(*) FROM vouchers WHERE resident_id = ?", stay); n != 1 {
		t.Errorf("staying resident got %d vouchers", n)
	}
}
