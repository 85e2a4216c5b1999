package resident_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/testenv"
)

const requestDoc = `mutation($in:RequestFactChangeInput!){requestFactChange(input:$in){
  request{id kind state effectiveOn status statusAction evidence{documentType documentNumber note} viewerMayDecide}
  resident{statuses careLevel}
  userErrors{code field message}}}`

const approveDoc = `mutation($id:ID!){approveFactChange(id:$id){
  request{id state rejectReason decidedAt}
  resident{statuses careLevel deceasedOn lifeEvents{kind}}
  household{statuses}
  userErrors{code field message}}}`

const rejectDoc = `mutation($id:ID!,$r:String!){rejectFactChange(input:{id:$id,reason:$r}){
  request{state rejectReason} userErrors{code field message}}}`

const withdrawDoc = `mutation($id:ID!){withdrawFactChange(id:$id){request{state} userErrors{code field message}}}`

const factsDoc = `query($id:ID!,$d:Date!){node(id:$id){... on Resident{statuses careLevel
  factsOn(date:$d){date statuses careLevel}
  statusHistory{status start ended household{id}}
  careAssessments{level assessedOn assessor instrument score}}}}`

// checkers signs in the seeded staff and a second case worker of 春熙路街道
// (the street of the residents InsertResident makes).
type checkers struct {
	admin, clerk, cw, cwSame, cwOther string
}

func newCheckers(t *testing.T, e *testenv.Env) checkers {
	t.Helper()
	c := checkers{admin: e.Admin(t), clerk: e.As(t, "clerk"), cw: e.As(t, "caseworker"), cwOther: e.As(t, "caseworker2")}
	name := fmt.Sprintf("cw.%d", time.Now().UnixNano()%1_000_000)
	r := e.MustDo(t, c.admin, `mutation($u:String!,$o:ID!){createStaffUser(input:{username:$u,password:"long-enough-pw",displayName:"复核社工",roles:[CASE_WORKER],orgUnitId:$o}){user{id} userErrors{code}}}`,
		map[string]any{"u": name, "o": unitGID(t, e, "510104020")})
	if r.Str("createStaffUser.user.id") == "" {
		t.Fatalf("create case worker: %s", r.Raw)
	}
	c.cwSame = e.Login(t, name, "long-enough-pw")
	return c
}

func statusChange(rid string, action, status string, on civil.Date) map[string]any {
	return map[string]any{"in": map[string]any{"kind": "RESIDENT_STATUS", "residentId": rid, "status": status, "statusAction": action,
		"effectiveOn": on.String(), "evidence": map[string]any{"documentType": "低保证", "documentNumber": "DB-2026-001", "note": "民政认定"}}}
}

func careChange(rid, level string, on civil.Date) map[string]any {
	return map[string]any{"in": map[string]any{"kind": "CARE_LEVEL", "residentId": rid, "careLevel": level, "effectiveOn": on.String(),
		"assessment": map[string]any{"assessor": "锦江区评估中心", "instrument": "老年人能力评估 GB/T 42195-2022", "score": 41},
		"evidence":   map[string]any{"documentType": "能力评估报告", "documentNumber": "PG-7"}}}
}

func mustRequest(t *testing.T, e *testenv.Env, tok string, vars map[string]any) string {
	t.Helper()
	r := e.MustDo(t, tok, requestDoc, vars)
	id := r.Str("requestFactChange.request.id")
	if id == "" || r.Str("requestFactChange.request.state") != "PENDING" {
		t.Fatalf("request: %s", r.Raw)
	}
	return id
}

func mustApprove(t *testing.T, e *testenv.Env, tok, id string) *testenv.Response {
	t.Helper()
	r := e.MustDo(t, tok, approveDoc, map[string]any{"id": id})
	if r.Str("approveFactChange.request.state") != "APPROVED" {
		t.Fatalf("approve: %s", r.Raw)
	}
	return r
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(string))
	}
	slices.Sort(out)
	return out
}

// TestMakerChecker: statuses and care level change only through a change
// request; its maker cannot decide it, a case worker of another street
// cannot either; another case worker of the street (or an ADMIN) approves,
// which applies it and audits it; rejection needs a reason; only the maker
// withdraws; a decided request moves no more.
func TestMakerChecker(t *testing.T) {
	e := testenv.New(t)
	c := newCheckers(t, e)
	res := e.InsertResident(t, testenv.ResidentSpec{CareLevel: "INTACT"})
	rid := residentGID(res.ID)
	today := civil.DateOf(e.Clock.Now())

	// The direct path is closed: updateResident refuses a change of statuses or care level.
	r := e.MustDo(t, c.clerk, `mutation($in:UpdateResidentInput!){updateResident(input:$in){resident{statuses} userErrors{code field}}}`,
		map[string]any{"in": map[string]any{"id": rid, "statuses": []string{"LOW_INCOME"}, "careLevel": "SEVERE"}})
	if r.Str("updateResident.userErrors.0.code") != "INVALID" || r.Str("updateResident.userErrors.1.field.1") != "careLevel" {
		t.Fatalf("updateResident with statuses: %s", r.Raw)
	}
	// Sending them unchanged (a whole form) is fine.
	r = e.MustDo(t, c.clerk, `mutation($in:UpdateResidentInput!){updateResident(input:$in){resident{statuses careLevel} userErrors{code field}}}`,
		map[string]any{"in": map[string]any{"id": rid, "statuses": []string{}, "careLevel": "INTACT", "address": "红星路一段1号"}})
	if r.Get("updateResident.userErrors.0") != nil {
		t.Fatalf("updateResident unchanged facts: %s", r.Raw)
	}
	// A direct death report is the ADMIN's only.
	r = e.Do(t, c.cw, `mutation($in:RecordDeathInput!){recordDeath(input:$in){userErrors{code}}}`,
		map[string]any{"in": map[string]any{"residentId": rid, "date": today.String(), "source": "家属申报"}})
	if r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("case worker's recordDeath: %s", r.Raw)
	}

	// The case worker makes a request; it changes nothing yet.
	id := mustRequest(t, e, c.cw, statusChange(rid, "GRANT", "LOW_INCOME", today.AddDays(-3)))
	r = e.MustDo(t, c.cw, factsDoc, map[string]any{"id": rid, "d": today.String()})
	if len(strs(r.Get("node.statuses"))) != 0 {
		t.Fatalf("a pending request changed the resident: %s", r.Raw)
	}
	// The maker may not approve or reject it.
	r = e.MustDo(t, c.cw, approveDoc, map[string]any{"id": id})
	if r.Str("approveFactChange.userErrors.0.code") != "FORBIDDEN" {
		t.Fatalf("maker approves: %s", r.Raw)
	}
	r = e.MustDo(t, c.cw, rejectDoc, map[string]any{"id": id, "r": "自己驳回"})
	if r.Str("rejectFactChange.userErrors.0.code") != "FORBIDDEN" {
		t.Fatalf("maker rejects: %s", r.Raw)
	}
	// A case worker of another street may not.
	r = e.MustDo(t, c.cwOther, approveDoc, map[string]any{"id": id})
	if r.Str("approveFactChange.userErrors.0.code") != "OUT_OF_JURISDICTION" {
		t.Fatalf("other street approves: %s", r.Raw)
	}
	// A clerk makes requests but does not check them.
	if r = e.Do(t, c.clerk, approveDoc, map[string]any{"id": id}); r.ErrorCode() != "FORBIDDEN" {
		t.Fatalf("clerk approves: %s", r.Raw)
	}
	// The queue shows it to the street's checkers, decidable by the other one.
	r = e.MustDo(t, c.cwSame, `query($o:ID!){factChangeRequests(filter:{states:[PENDING],kinds:[RESIDENT_STATUS],orgUnitId:$o},first:10){totalCount edges{node{id viewerMayDecide resident{id}}}}}`,
		map[string]any{"o": unitGID(t, e, "510104020")})
	if r.Str("factChangeRequests.edges.0.node.id") != id || r.Get("factChangeRequests.edges.0.node.viewerMayDecide") != true {
		t.Fatalf("queue: %s", r.Raw)
	}
	r = e.MustDo(t, c.cwOther, `{factChangeRequests(filter:{states:[PENDING]}){edges{node{id}}}}`, nil)
	if r.Get("factChangeRequests.edges.0") != nil {
		t.Fatalf("another street's queue shows it: %s", r.Raw)
	}
	// Another case worker of the street approves: applied at once, audited.
	r = mustApprove(t, e, c.cwSame, id)
	if got := strs(r.Get("approveFactChange.resident.statuses")); !slices.Equal(got, []string{"LOW_INCOME"}) {
		t.Fatalf("approved status not applied: %s", r.Raw)
	}
	var n int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = 'approveFactChange' AND entity_id = (SELECT id FROM fact_change_requests WHERE state = 'APPROVED' AND resident_id = ?)", testenv.Args(res.ID), &n)
	if n != 1 {
		t.Fatalf("approval audited %d times", n)
	}
	// Decided: no second decision, no withdrawal.
	if r = e.MustDo(t, c.admin, approveDoc, map[string]any{"id": id}); r.Str("approveFactChange.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("second approval: %s", r.Raw)
	}
	// Granting a status held already is refused when requested.
	r = e.MustDo(t, c.clerk, requestDoc, statusChange(rid, "GRANT", "LOW_INCOME", today))
	if r.Str("requestFactChange.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("grant held status: %s", r.Raw)
	}

	// Rejection needs a reason and changes nothing.
	id = mustRequest(t, e, c.clerk, careChange(rid, "SEVERE", today))
	if r = e.MustDo(t, c.cw, rejectDoc, map[string]any{"id": id, "r": " "}); r.Str("rejectFactChange.userErrors.0.code") != "INVALID" {
		t.Fatalf("reject without reason: %s", r.Raw)
	}
	r = e.MustDo(t, c.cw, rejectDoc, map[string]any{"id": id, "r": "评估报告未盖章"})
	if r.Str("rejectFactChange.request.state") != "REJECTED" || r.Str("rejectFactChange.request.rejectReason") != "评估报告未盖章" {
		t.Fatalf("reject: %s", r.Raw)
	}
	// Only the maker withdraws.
	id = mustRequest(t, e, c.clerk, careChange(rid, "MILD", today))
	if r = e.MustDo(t, c.cw, withdrawDoc, map[string]any{"id": id}); r.Str("withdrawFactChange.userErrors.0.code") != "FORBIDDEN" {
		t.Fatalf("someone else withdraws: %s", r.Raw)
	}
	if r = e.MustDo(t, c.clerk, withdrawDoc, map[string]any{"id": id}); r.Str("withdrawFactChange.request.state") != "WITHDRAWN" {
		t.Fatalf("withdraw: %s", r.Raw)
	}
	if r = e.MustDo(t, c.cw, approveDoc, map[string]any{"id": id}); r.Str("approveFactChange.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("approve withdrawn: %s", r.Raw)
	}
	r = e.MustDo(t, c.cw, factsDoc, map[string]any{"id": rid, "d": today.String()})
	if r.Str("node.careLevel") != "INTACT" {
		t.Fatalf("rejected and withdrawn requests changed the care level: %s", r.Raw)
	}
	// Evidence is required.
	bad := careChange(rid, "MILD", today)
	bad["in"].(map[string]any)["evidence"] = map[string]any{"documentType": "", "documentNumber": ""}
	if r = e.MustDo(t, c.clerk, requestDoc, bad); r.Str("requestFactChange.userErrors.1.field.2") != "documentNumber" {
		t.Fatalf("request without evidence: %s", r.Raw)
	}
	// The database refuses a checker who is the maker too.
	var maker uuid.UUID
	testenv.MustScan(t, e.DB, "SELECT requested_by FROM fact_change_requests WHERE id = (SELECT id FROM fact_change_requests ORDER BY id LIMIT 1)", nil, &maker)
	if err := e.DB.Exec("UPDATE fact_change_requests SET decided_by = requested_by WHERE requested_by = ?", maker).Error; err == nil {
		t.Fatal("the database let a maker be the checker")
	}
}

// TestApprovalIsAtomicAndHistoryAsOf: an approval whose change no longer
// fits (an assessment dated before the last one, a second death) fails
// whole: the request stays PENDING and nothing changed. Approved changes
// build a history that answers the facts as they stood on any day.
func TestApprovalIsAtomicAndHistoryAsOf(t *testing.T) {
	e := testenv.New(t)
	c := newCheckers(t, e)
	res := e.InsertResident(t, testenv.ResidentSpec{CareLevel: "MILD", Statuses: []string{"LOW_INCOME", "LIVING_ALONE"}})
	rid := residentGID(res.ID)
	today := civil.DateOf(e.Clock.Now())

	mustApprove(t, e, c.cwSame, mustRequest(t, e, c.clerk, careChange(rid, "MODERATE", today.AddDays(-20))))
	mustApprove(t, e, c.admin, mustRequest(t, e, c.cw, statusChange(rid, "END", "LOW_INCOME", today.AddDays(-5))))

	at := func(d civil.Date) (string, []string, *testenv.Response) {
		r := e.MustDo(t, c.cw, factsDoc, map[string]any{"id": rid, "d": d.String()})
		return r.Str("node.factsOn.careLevel"), strs(r.Get("node.factsOn.statuses")), r
	}
	if lvl, st, r := at(today.AddDays(-30)); lvl != "MILD" || !slices.Equal(st, []string{"LIVING_ALONE", "LOW_INCOME"}) {
		t.Fatalf("30 days ago: %s", r.Raw)
	}
	if lvl, st, r := at(today.AddDays(-10)); lvl != "MODERATE" || !slices.Equal(st, []string{"LIVING_ALONE", "LOW_INCOME"}) {
		t.Fatalf("10 days ago: %s", r.Raw)
	}
	// The day a status ends it is no longer held.
	if lvl, st, r := at(today.AddDays(-5)); lvl != "MODERATE" || !slices.Equal(st, []string{"LIVING_ALONE"}) {
		t.Fatalf("5 days ago: %s", r.Raw)
	}
	lvl, st, r := at(today)
	if lvl != "MODERATE" || !slices.Equal(st, []string{"LIVING_ALONE"}) || r.Str("node.careLevel") != "MODERATE" {
		t.Fatalf("today: %s", r.Raw)
	}
	// History: the levels with their assessments, the periods with their dates.
	if r.Str("node.careAssessments.0.level") != "MILD" || r.Get("node.careAssessments.0.assessedOn") != nil ||
		r.Str("node.careAssessments.1.instrument") != "老年人能力评估 GB/T 42195-2022" || r.Get("node.careAssessments.1.score") != float64(41) {
		t.Fatalf("care assessments: %s", r.Raw)
	}
	ended := false
	for _, p := range r.Get("node.statusHistory").([]any) {
		m := p.(map[string]any)
		ended = ended || (m["status"] == "LOW_INCOME" && m["ended"] == today.AddDays(-5).String())
	}
	if !ended {
		t.Fatalf("status history: %s", r.Raw)
	}

	// An assessment dated before the last one: the approval fails whole.
	id := mustRequest(t, e, c.clerk, careChange(rid, "TOTAL", today.AddDays(-25)))
	r = e.MustDo(t, c.cw, approveDoc, map[string]any{"id": id})
	if r.Str("approveFactChange.userErrors.0.code") != "INVALID" {
		t.Fatalf("approve out-of-order assessment: %s", r.Raw)
	}
	var state string
	var assessments int
	testenv.MustScan(t, e.DB, "SELECT state, (SELECT count(*) FROM care_assessments WHERE resident_id = ?) FROM fact_change_requests WHERE resident_id = ? AND change->>'careLevel' = 'TOTAL'",
		testenv.Args(res.ID, res.ID), &state, &assessments)
	if state != "PENDING" || assessments != 2 {
		t.Fatalf("failed approval left state %s and %d assessments", state, assessments)
	}
	if lvl, _, r := at(today); lvl != "MODERATE" {
		t.Fatalf("failed approval changed the level: %s", r.Raw)
	}
	// While it waits, another care level for the resident is refused, as
	// is the same status twice; another status is not.
	r = e.MustDo(t, c.cw, requestDoc, careChange(rid, "SEVERE", today))
	if r.Str("requestFactChange.userErrors.0.code") != "DUPLICATE" || r.Get("requestFactChange.request") != nil {
		t.Fatalf("second pending care level: %s", r.Raw)
	}
	alone := mustRequest(t, e, c.clerk, statusChange(rid, "END", "LIVING_ALONE", today))
	r = e.MustDo(t, c.cw, requestDoc, statusChange(rid, "END", "LIVING_ALONE", today))
	if r.Str("requestFactChange.userErrors.0.code") != "DUPLICATE" {
		t.Fatalf("second pending status: %s", r.Raw)
	}
	mustRequest(t, e, c.cw, statusChange(rid, "GRANT", "EMPTY_NEST", today))
	if r = e.MustDo(t, c.clerk, withdrawDoc, map[string]any{"id": alone}); r.Str("withdrawFactChange.request.state") != "WITHDRAWN" {
		t.Fatalf("withdraw: %s", r.Raw)
	}
	mustRequest(t, e, c.cw, statusChange(rid, "END", "LIVING_ALONE", today)) // withdrawn: no longer in the way

	// A death by a checked change: the approval records it and closes what it closes, in one transaction.
	death := func() string {
		return mustRequest(t, e, c.clerk, map[string]any{"in": map[string]any{"kind": "DEATH", "residentId": rid, "effectiveOn": today.String(),
			"deathSource": "医院死亡医学证明", "evidence": map[string]any{"documentType": "死亡医学证明", "documentNumber": "SW-1"}}})
	}
	first := death()
	// A second report of the same death while the first waits is refused
	// when made, not when its approval would fail.
	r = e.MustDo(t, c.cw, requestDoc, map[string]any{"in": map[string]any{"kind": "DEATH", "residentId": rid, "effectiveOn": today.String(),
		"deathSource": "社区上报", "evidence": map[string]any{"documentType": "死亡医学证明", "documentNumber": "SW-2"}}})
	if r.Str("requestFactChange.userErrors.0.code") != "DUPLICATE" {
		t.Fatalf("second pending death: %s", r.Raw)
	}
	r = mustApprove(t, e, c.cwSame, first)
	if r.Str("approveFactChange.resident.deceasedOn") != today.String() || r.Str("approveFactChange.resident.lifeEvents.0.kind") != "DEATH" {
		t.Fatalf("approved death: %s", r.Raw)
	}
	// Once recorded, another is refused as a change that no longer fits.
	r = e.MustDo(t, c.cw, requestDoc, map[string]any{"in": map[string]any{"kind": "DEATH", "residentId": rid, "effectiveOn": today.String(),
		"deathSource": "社区上报", "evidence": map[string]any{"documentType": "死亡医学证明", "documentNumber": "SW-3"}}})
	if code := r.Str("requestFactChange.userErrors.0.code"); code == "" || code == "DUPLICATE" {
		t.Fatalf("death of a dead resident: %s", r.Raw)
	}
	var events int
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM life_events WHERE resident_id = ?", testenv.Args(res.ID), &events)
	if events != 1 {
		t.Fatalf("%d life events", events)
	}
}

const householdDoc = `id address statuses version head{id} members{relation joinedOn resident{id}} community{name} statusHistory{status start ended}`

// TestHouseholds: a household with a head and members; a resident is in
// one household at most; the head changes; members leave; the list
// finds a household by address or a member's name; a case worker of
// another street neither sees nor changes it; a household's 低保,
// approved by a checker, is held by every member.
func TestHouseholds(t *testing.T) {
	e := testenv.New(t)
	c := newCheckers(t, e)
	today := civil.DateOf(e.Clock.Now())
	head := e.InsertResident(t, testenv.ResidentSpec{Name: "户主锦"})
	spouse := e.InsertResident(t, testenv.ResidentSpec{Name: "配偶江"})
	child := e.InsertResident(t, testenv.ResidentSpec{Name: "子女蓉"})
	other := e.InsertResident(t, testenv.ResidentSpec{Name: "邻居城"})
	addr := fmt.Sprintf("锦江区红星路三段%d号2栋", time.Now().UnixNano()%100000)

	r := e.MustDo(t, c.clerk, `mutation($a:String!,$h:ID!){createHousehold(input:{address:$a,headId:$h}){household{`+householdDoc+`} userErrors{code field}}}`,
		map[string]any{"a": addr, "h": residentGID(head.ID)})
	hid := r.Str("createHousehold.household.id")
	if hid == "" || r.Str("createHousehold.household.members.0.relation") != "HEAD" || r.Str("createHousehold.household.community.name") != "和平街社区" {
		t.Fatalf("create: %s", r.Raw)
	}
	add := func(tok string, rid uuid.UUID, rel string) *testenv.Response {
		return e.MustDo(t, tok, `mutation($h:ID!,$r:ID!,$rel:HouseholdRelation!){addHouseholdMember(input:{householdId:$h,residentId:$r,relation:$rel}){household{`+householdDoc+`} userErrors{code field}}}`,
			map[string]any{"h": hid, "r": residentGID(rid), "rel": rel})
	}
	if r = add(c.cw, spouse.ID, "SPOUSE"); len(r.Get("addHouseholdMember.household.members").([]any)) != 2 {
		t.Fatalf("add spouse: %s", r.Raw)
	}
	add(c.clerk, child.ID, "CHILD")
	if r = add(c.cwOther, other.ID, "OTHER"); r.Str("addHouseholdMember.userErrors.0.code") != "OUT_OF_JURISDICTION" {
		t.Fatalf("other street adds: %s", r.Raw)
	}
	if r = add(c.clerk, other.ID, "HEAD"); r.Str("addHouseholdMember.userErrors.0.code") != "INVALID" {
		t.Fatalf("add a second head: %s", r.Raw)
	}
	// One household at most: the child cannot head another.
	r = e.MustDo(t, c.clerk, `mutation($h:ID!){createHousehold(input:{address:"别处",headId:$h}){household{id} userErrors{code field}}}`,
		map[string]any{"h": residentGID(child.ID)})
	if r.Str("createHousehold.userErrors.0.code") != "DUPLICATE" {
		t.Fatalf("second household: %s", r.Raw)
	}
	// The head changes; the former head becomes the spouse.
	r = e.MustDo(t, c.cw, `mutation($h:ID!,$n:ID!,$c:ID!){changeHouseholdHead(input:{householdId:$h,headId:$n,formerHeadRelation:SPOUSE,relations:[{residentId:$c,relation:CHILD}]}){household{`+householdDoc+`} userErrors{code field}}}`,
		map[string]any{"h": hid, "n": residentGID(spouse.ID), "c": residentGID(child.ID)})
	if r.Str("changeHouseholdHead.household.head.id") != residentGID(spouse.ID) || r.Str("changeHouseholdHead.household.members.0.resident.id") != residentGID(spouse.ID) {
		t.Fatalf("change head: %s", r.Raw)
	}
	// The head cannot be removed; a member can.
	rm := func(rid uuid.UUID) *testenv.Response {
		return e.MustDo(t, c.clerk, `mutation($h:ID!,$r:ID!){removeHouseholdMember(input:{householdId:$h,residentId:$r}){household{members{resident{id}}} userErrors{code}}}`,
			map[string]any{"h": hid, "r": residentGID(rid)})
	}
	if r = rm(spouse.ID); r.Str("removeHouseholdMember.userErrors.0.code") != "INVALID_TRANSITION" {
		t.Fatalf("remove head: %s", r.Raw)
	}
	add(c.clerk, other.ID, "OTHER")
	if r = rm(other.ID); len(r.Get("removeHouseholdMember.household.members").([]any)) != 3 {
		t.Fatalf("remove member: %s", r.Raw)
	}
	// Found by an address substring and by a member's name; not by another street.
	list := `query($f:HouseholdFilter){households(filter:$f,first:5){totalCount edges{node{id}}}}`
	for _, f := range []map[string]any{{"addressContains": addr[len("锦江区"):]}, {"memberName": "子女蓉", "addressContains": "红星"}, {"memberName": "配偶江"}} {
		r = e.MustDo(t, c.cw, list, map[string]any{"f": f})
		if r.Str("households.edges.0.node.id") != hid {
			t.Fatalf("households %v: %s", f, r.Raw)
		}
	}
	if r = e.MustDo(t, c.cw, list, map[string]any{"f": map[string]any{"memberName": "邻居城"}}); r.Get("households.edges.0") != nil {
		t.Fatalf("a former member still finds the household: %s", r.Raw)
	}
	if r = e.MustDo(t, c.cwOther, list, map[string]any{"f": map[string]any{"addressContains": addr}}); r.Get("households.edges.0") != nil {
		t.Fatalf("another street lists it: %s", r.Raw)
	}
	r = e.MustDo(t, c.cw, `query($id:ID!){node(id:$id){... on Resident{household{id members{relation resident{id}}}}}}`, map[string]any{"id": residentGID(child.ID)})
	if r.Str("node.household.id") != hid {
		t.Fatalf("Resident.household: %s", r.Raw)
	}

	// The household's 低保, by a checked change: every member holds it.
	hreq := map[string]any{"in": map[string]any{"kind": "HOUSEHOLD_STATUS", "householdId": hid, "status": "LOW_INCOME", "statusAction": "GRANT",
		"effectiveOn": today.String(), "evidence": map[string]any{"documentType": "低保证", "documentNumber": "DB-H-1"}}}
	bad := map[string]any{"in": map[string]any{"kind": "HOUSEHOLD_STATUS", "householdId": hid, "status": "LIVING_ALONE", "statusAction": "GRANT",
		"effectiveOn": today.String(), "evidence": map[string]any{"documentType": "证明", "documentNumber": "1"}}}
	if r = e.MustDo(t, c.clerk, requestDoc, bad); r.Str("requestFactChange.userErrors.0.code") != "INVALID" {
		t.Fatalf("a household's 独居: %s", r.Raw)
	}
	id := mustRequest(t, e, c.clerk, hreq)
	if r = e.MustDo(t, c.cwOther, approveDoc, map[string]any{"id": id}); r.Str("approveFactChange.userErrors.0.code") != "OUT_OF_JURISDICTION" {
		t.Fatalf("other street approves household: %s", r.Raw)
	}
	r = mustApprove(t, e, c.cw, id)
	if got := strs(r.Get("approveFactChange.household.statuses")); !slices.Equal(got, []string{"LOW_INCOME"}) {
		t.Fatalf("household status: %s", r.Raw)
	}
	for _, m := range []uuid.UUID{head.ID, spouse.ID, child.ID} {
		r = e.MustDo(t, c.cw, factsDoc, map[string]any{"id": residentGID(m), "d": today.String()})
		if got := strs(r.Get("node.factsOn.statuses")); !slices.Equal(got, []string{"LOW_INCOME"}) || len(strs(r.Get("node.statuses"))) != 0 {
			t.Fatalf("member's facts: %s", r.Raw)
		}
	}
	// The member removed before the grant does not hold it; one who leaves stops holding it.
	r = e.MustDo(t, c.cw, factsDoc, map[string]any{"id": residentGID(other.ID), "d": today.String()})
	if len(strs(r.Get("node.factsOn.statuses"))) != 0 {
		t.Fatalf("former member holds the household's status: %s", r.Raw)
	}
	rm(child.ID)
	r = e.MustDo(t, c.cw, factsDoc, map[string]any{"id": residentGID(child.ID), "d": today.String()})
	if len(strs(r.Get("node.factsOn.statuses"))) != 0 {
		t.Fatalf("member who left holds the household's status: %s", r.Raw)
	}
	for _, a := range []string{"createHousehold", "addHouseholdMember", "removeHouseholdMember", "changeHouseholdHead", "requestFactChange", "approveFactChange"} {
		var n int
		testenv.MustScan(t, e.DB, "SELECT count(*) FROM audit_log WHERE action = ?", testenv.Args(a), &n)
		if n == 0 {
			t.Errorf("%s not audited", a)
		}
	}
}
