package application_test

import (
	"context"
	"testing"
	"time"

	"github.com/jinjiang/residents/internal/testenv"
)

const lawFields = `id status deadline statutoryDeadline promisedDeadline deadlineProvisional workingDaysLeft overdue
  acceptedAt acceptedByLaw receivedAt extended extensionReason paused clockPauses { kind reason startedOn endedOn }
  supplementNotice { material reason } missingMaterials availableActions
  events { action note visibility actorName }`

func (w *world) law(t *testing.T, tok, id string) *testenv.Response {
	t.Helper()
	return w.e.MustDo(t, tok, `query($id: ID!) { application(id: $id) { `+lawFields+` } }`, map[string]any{"id": id})
}

func (w *world) moveWith(t *testing.T, tok string, in map[string]any) *testenv.Response {
	t.Helper()
	return w.e.Do(t, tok, `mutation($in: TransitionApplicationInput!) { transitionApplication(input: $in) {
	  application { `+lawFields+` } userErrors { code field message } } }`, map[string]any{"in": in})
}

func contains(xs any, want string) bool {
	l, _ := xs.([]any)
	for _, x := range l {
		if x == want {
			return true
		}
	}
	return false
}

// TestAcceptedByLaw: §32. Received Monday 2026-03-02; five working days
// end Monday 03-09. On 03-09 nothing happens and a 补正 notice may still be
// given; on 03-10 it may not, and the job accepts the application by law
// from 03-02 (deadline 03-02 + 15 working days = 03-23), once.
func TestAcceptedByLaw(t *testing.T) {
	w := newWorld(t, at(2026, time.March, 2, 10))
	e := w.e
	ctx := context.Background()
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	a := w.submit(t, w.clerk, "YLFWQ-SL", res.ID, "", allMaterials[:1]).Str("submitApplication.application.id")
	b := w.submit(t, w.clerk, "YLFWQ-SL", res.ID, "", allMaterials).Str("submitApplication.application.id")
	noticed := w.submit(t, w.clerk, "YLFWQ-SL", res.ID, "", allMaterials[:1]).Str("submitApplication.application.id")
	w.mustMove(t, w.clerk, noticed, "REQUEST_SUPPLEMENT", "缺户口簿")

	w.setClock(t, at(2026, time.March, 9, 23))
	// (The package's database is shared: counts include other tests' applications, so the checks are per application.)
	if _, err := e.App.Application.AcceptByLaw(ctx); err != nil {
		t.Fatal(err)
	}
	r := w.law(t, w.clerk, a)
	mustEqual(t, "status on 03-09", r.Str("application.status"), "SUBMITTED")
	if !contains(r.Get("application.availableActions"), "REQUEST_SUPPLEMENT") {
		t.Fatalf("no 补正 on the last day: %s", r.Raw)
	}

	w.setClock(t, at(2026, time.March, 10, 9))
	r = w.move(t, w.clerk, b, "REQUEST_SUPPLEMENT", "太迟", nil)
	mustEqual(t, "补正 after the window", r.Str("transitionApplication.userErrors.0.code"), "INVALID_TRANSITION")
	r = w.move(t, w.clerk, b, "REJECT", "太迟", nil)
	mustEqual(t, "refusal after the window", r.Str("transitionApplication.userErrors.0.code"), "INVALID_TRANSITION")
	if contains(w.law(t, w.clerk, b).Get("application.availableActions"), "REQUEST_SUPPLEMENT") {
		t.Fatal("REQUEST_SUPPLEMENT offered after the window")
	}
	if n, err := e.App.Application.AcceptByLaw(ctx); err != nil || n < 2 {
		t.Fatalf("accepted by law: %d, %v", n, err)
	}
	mustEqual(t, "b accepted", status(t, e, b), "ACCEPTED")
	r = w.law(t, w.clerk, a)
	p := "application."
	mustEqual(t, "status", r.Str(p+"status"), "ACCEPTED")
	mustEqual(t, "by law", r.Get(p+"acceptedByLaw"), any(true))
	mustEqual(t, "accepted on receipt", r.Str(p+"acceptedAt"), "2026-03-02T10:00:00+08:00")
	mustEqual(t, "deadline from receipt", r.Str(p+"deadline"), "2026-03-23")
	mustEqual(t, "event", r.Str(p+"events.1.action"), "DEEMED_ACCEPT")
	mustEqual(t, "event actor", r.Str(p+"events.1.actorName"), "系统（依法视为受理）")
	if note := r.Str(p + "events.1.note"); !containsStr(note, "第三十二条") || !containsStr(note, "2026-03-02") {
		t.Fatalf("event note %q does not say §32 and the date", note)
	}
	mustEqual(t, "noticed one untouched", status(t, e, noticed), "SUPPLEMENT_REQUESTED")
	if _, err := e.App.Application.AcceptByLaw(ctx); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "one event", eventCount(t, e, a), 2)

	// A resubmission opens a new window from the resubmission: 03-10 + 5 = 03-17.
	r = w.move(t, w.clerk, noticed, "RESUBMIT", "", []map[string]any{{"name": "户口簿"}})
	mustEqual(t, "resubmitted", r.Str("transitionApplication.application.status"), "SUBMITTED")
	w.setClock(t, at(2026, time.March, 17, 18))
	if _, err := e.App.Application.AcceptByLaw(ctx); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "inside the new window", status(t, e, noticed), "SUBMITTED")
	w.setClock(t, at(2026, time.March, 18, 8))
	if _, err := e.App.Application.AcceptByLaw(ctx); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "after the new window", status(t, e, noticed), "ACCEPTED")
	// Accepted from the resubmission date: 03-10 + 15 working days = 03-31.
	mustEqual(t, "deadline from resubmission", w.law(t, w.clerk, noticed).Str("application.deadline"), "2026-03-31")
}

func containsStr(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || containsStr(s[1:], sub)))
}

// TestSupplementNotice: one complete structured list, given once; RESUBMIT
// must bring exactly what it lists.
func TestSupplementNotice(t *testing.T) {
	w := newWorld(t, at(2026, time.April, 7, 10))
	e := w.e
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	tok := residentToken(t, e, res.ID)
	id := w.submit(t, tok, "YLFWQ-SL", res.ID, "", allMaterials[:1]).Str("submitApplication.application.id")
	p := "transitionApplication."
	for _, tc := range []struct {
		name, code string
		list       []map[string]any
	}{
		{"no list", "INVALID", nil},
		{"a line without a reason", "INVALID", []map[string]any{{"material": "户口簿", "reason": " "}}},
		{"a material twice", "DUPLICATE", []map[string]any{{"material": "户口簿", "reason": "缺"}, {"material": "户口簿", "reason": "缺"}}},
	} {
		r := w.moveWith(t, w.clerk, map[string]any{"id": id, "action": "REQUEST_SUPPLEMENT", "supplements": tc.list})
		mustEqual(t, tc.name, r.Str(p+"userErrors.0.code"), tc.code)
	}
	list := []map[string]any{{"material": "户口簿", "reason": "未提交户口簿"}, {"material": "老年人能力评估报告", "reason": "评估报告已过有效期"}}
	r := w.moveWith(t, w.clerk, map[string]any{"id": id, "action": "REQUEST_SUPPLEMENT", "supplements": list})
	mustEqual(t, "status", r.Str(p+"application.status"), "SUPPLEMENT_REQUESTED")
	mustEqual(t, "line 2", r.Str(p+"application.supplementNotice.1.reason"), "评估报告已过有效期")
	// The applicant sees the notice.
	mustEqual(t, "applicant sees it", w.law(t, tok, id).Str("application.supplementNotice.0.material"), "户口簿")
	if !contains(w.law(t, tok, id).Get("application.availableActions"), "RESUBMIT") {
		t.Fatal("RESUBMIT not offered to the applicant")
	}

	for _, tc := range []struct {
		name string
		mats []map[string]any
	}{
		{"one listed material missing", []map[string]any{{"name": "户口簿"}}},
		{"a material the notice did not ask for", []map[string]any{{"name": "户口簿"}, {"name": "老年人能力评估报告"}, {"name": "结婚证"}}},
	} {
		r := w.move(t, tok, id, "RESUBMIT", "", tc.mats)
		mustEqual(t, tc.name, r.Str(p+"userErrors.0.code"), "INVALID")
		mustEqual(t, tc.name+": unchanged", status(t, e, id), "SUPPLEMENT_REQUESTED")
	}
	w.setClock(t, at(2026, time.April, 9, 15))
	r = w.moveWith(t, tok, map[string]any{"id": id, "action": "RESUBMIT",
		"materials": []map[string]any{{"name": "户口簿", "reference": "sha256:aa"}, {"name": "老年人能力评估报告"}}})
	mustEqual(t, "resubmitted", r.Str(p+"application.status"), "SUBMITTED")
	mustEqual(t, "received again", r.Str(p+"application.receivedAt"), "2026-04-09T15:00:00+08:00")
	mustEqual(t, "nothing missing", len(r.Get(p+"application.missingMaterials").([]any)), 0)
	// Given once: no second notice.
	r = w.moveWith(t, w.clerk, map[string]any{"id": id, "action": "REQUEST_SUPPLEMENT", "supplements": list})
	mustEqual(t, "second notice", r.Str(p+"userErrors.0.code"), "INVALID_TRANSITION")
	if contains(w.law(t, w.clerk, id).Get("application.availableActions"), "REQUEST_SUPPLEMENT") {
		t.Fatal("a second notice offered")
	}
}

// TestExtensionReasonAndClockPauses (in July 2026: no holidays, and no
// other test of the package sets calendar days there): EXTEND needs a
// reason the applicant sees; a §45 pause's first and last day do not count, and the clock
// standing still is not overdue.
func TestExtensionReasonAndClockPauses(t *testing.T) {
	w := newWorld(t, at(2026, time.July, 6, 10))
	e := w.e
	w.shortItem(t, "T-P5", 10) // 5 working days, extension 10
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	tok := residentToken(t, e, res.ID)
	p := "transitionApplication."
	newAccepted := func() string {
		id := w.submit(t, w.clerk, "T-P5", res.ID, "", idCard).Str("submitApplication.application.id")
		r := w.mustMove(t, w.clerk, id, "ACCEPT", "")
		mustEqual(t, "deadline", r.Str(p+"application.deadline"), "2026-07-13")
		return id
	}
	one, two := newAccepted(), newAccepted()

	r := w.move(t, w.admin, one, "EXTEND", "", nil)
	mustEqual(t, "extend without a reason", r.Str(p+"userErrors.0.code"), "INVALID")
	w.mustMove(t, w.admin, one, "EXTEND", "需组织专家现场核查")
	q := w.law(t, tok, one)
	mustEqual(t, "applicant sees the reason", q.Str("application.extensionReason"), "需组织专家现场核查")
	mustEqual(t, "extended deadline", q.Str("application.deadline"), "2026-07-27")

	// Pause Wednesday 07-08 to Thursday 07-09: two working days do not count.
	w.setClock(t, at(2026, time.July, 8, 9))
	r = w.moveWith(t, w.cw, map[string]any{"id": two, "action": "PAUSE_CLOCK", "note": "专家评审"})
	mustEqual(t, "pause without a kind", r.Str(p+"userErrors.0.code"), "INVALID")
	r = w.moveWith(t, w.cw, map[string]any{"id": two, "action": "PAUSE_CLOCK", "pauseKind": "EXPERT_ASSESSMENT"})
	mustEqual(t, "pause without a reason", r.Str(p+"userErrors.0.code"), "INVALID")
	r = w.moveWith(t, w.cw, map[string]any{"id": two, "action": "PAUSE_CLOCK", "pauseKind": "EXPERT_ASSESSMENT", "note": "组织专家评审"})
	mustEqual(t, "paused", r.Get(p+"application.paused"), any(true))
	if !contains(r.Get(p+"application.availableActions"), "RESUME_CLOCK") || contains(r.Get(p+"application.availableActions"), "PAUSE_CLOCK") {
		t.Fatalf("actions while paused: %s", r.Raw)
	}
	r = w.moveWith(t, w.cw, map[string]any{"id": two, "action": "PAUSE_CLOCK", "pauseKind": "HEARING", "note": "再停"})
	mustEqual(t, "pause twice", r.Str(p+"userErrors.0.code"), "INVALID_TRANSITION")
	w.setClock(t, at(2026, time.July, 9, 17))
	r = w.moveWith(t, w.cw, map[string]any{"id": two, "action": "RESUME_CLOCK"})
	mustEqual(t, "resumed", r.Get(p+"application.paused"), any(false))
	mustEqual(t, "deadline + 2", r.Str(p+"application.deadline"), "2026-07-15")
	mustEqual(t, "pause start", r.Str(p+"application.clockPauses.0.startedOn"), "2026-07-08")
	mustEqual(t, "pause end", r.Str(p+"application.clockPauses.0.endedOn"), "2026-07-09")
	mustEqual(t, "days left on 03-05", r.Get(p+"application.workingDaysLeft"), any(float64(4)))

	// A pause that runs past the deadline: not overdue while the clock stands.
	w.setClock(t, at(2026, time.July, 10, 9))
	w.moveWith(t, w.cw, map[string]any{"id": two, "action": "PAUSE_CLOCK", "pauseKind": "INSPECTION", "note": "现场核查"})
	w.setClock(t, at(2026, time.July, 24, 9))
	q = w.law(t, w.cw, two)
	mustEqual(t, "not overdue while paused", q.Get("application.overdue"), any(false))
	r = w.e.MustDo(t, w.cw, `query($a: ID) { applications(filter: {overdue: true, applicantId: $a}) { totalCount } }`,
		map[string]any{"a": residentGID(res.ID)})
	mustEqual(t, "not listed overdue", r.Get("applications.totalCount"), any(float64(0)))
	r = w.moveWith(t, w.cw, map[string]any{"id": two, "action": "RESUME_CLOCK"})
	// 07-10..07-24 paused: 11 working days; 07-15 + 11 = 07-30.
	mustEqual(t, "deadline after the long pause", r.Str(p+"application.deadline"), "2026-07-30")
	mustEqual(t, "days left", r.Get(p+"application.workingDaysLeft"), any(float64(4)))
}

// TestPromisedLimitAndOnTimeRatio: both limits reported; the on-time
// ratio is null when nothing was completed.
func TestPromisedLimitAndOnTimeRatio(t *testing.T) {
	w := newWorld(t, at(2026, time.May, 11, 10))
	e := w.e
	in := map[string]any{"code": "T-PROM", "name": "承诺时限测试", "timeLimitWorkingDays": 20, "promisedLimitWorkingDays": 21,
		"materials": []any{}, "districtWide": true}
	r := e.MustDo(t, w.admin, upsertDoc, map[string]any{"in": in})
	mustEqual(t, "promise beyond the statute", r.Str("upsertServiceItem.userErrors.0.code"), "INVALID")
	in["promisedLimitWorkingDays"] = 5
	e.MustDo(t, w.admin, upsertDoc, map[string]any{"in": in})
	r = e.MustDo(t, w.clerk, `{ serviceItems { code statutoryLimitWorkingDays promisedLimitWorkingDays } }`, nil)
	found := false
	for _, x := range r.Get("serviceItems").([]any) {
		m := x.(map[string]any)
		if m["code"] == "T-PROM" {
			found = m["statutoryLimitWorkingDays"] == float64(20) && m["promisedLimitWorkingDays"] == float64(5)
		}
	}
	if !found {
		t.Fatalf("limits: %s", r.Raw)
	}
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	id := w.submit(t, w.clerk, "T-PROM", res.ID, "", nil).Str("submitApplication.application.id")
	w.mustMove(t, w.clerk, id, "ACCEPT", "")
	q := w.law(t, w.clerk, id)
	// 05-11 (Mon) + 5 = 05-18; + 20 = 06-08.
	mustEqual(t, "promised", q.Str("application.promisedDeadline"), "2026-05-18")
	mustEqual(t, "statutory", q.Str("application.statutoryDeadline"), "2026-06-08")

	const st = `{ applicationStats(from: "2030-01-01", to: "2030-01-31") { completed onTimeRate onTimeRatio } }`
	r = e.MustDo(t, w.admin, st, nil)
	mustEqual(t, "nothing completed", r.Get("applicationStats.completed"), any(float64(0)))
	if r.Get("applicationStats.onTimeRatio") != nil {
		t.Fatalf("ratio with nothing completed: %s", r.Raw)
	}
}
