package application_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/testenv"
)

const upsertDoc = `mutation($in: ServiceItemInput!) { upsertServiceItem(input: $in) {
  item { id code name timeLimitWorkingDays extensionWorkingDays districtWide department { code } materials { name required } voucherProgram { id } }
  userErrors { code field message } } }`

// shortItem creates an item with a 5-working-day limit and a 10-day extension.
func (w *world) shortItem(t *testing.T, code string, ext int) {
	t.Helper()
	r := w.e.MustDo(t, w.admin, upsertDoc, map[string]any{"in": map[string]any{
		"code": code, "name": "测试事项" + code, "timeLimitWorkingDays": 5, "extensionWorkingDays": ext,
		"materials": []map[string]any{{"name": "居民身份证", "required": true}}, "districtWide": true}})
	if r.Str("upsertServiceItem.userErrors.0.code") != "" {
		t.Fatalf("upsert: %s", r.Raw)
	}
}

var idCard = []map[string]any{{"name": "居民身份证"}}

// TestDeadlineOverHolidayAndMakeupSaturday: accepted Tuesday 2026-09-29 with
// 5 working days: 09-30 (1), 国庆 10-01..07 off, 10-08 (2), 10-09 (3),
// Saturday 10-10 worked (4), Sunday off, 10-12 (5). Then EXTEND by 10.
func TestDeadlineOverHolidayAndMakeupSaturday(t *testing.T) {
	w := newWorld(t, at(2026, time.September, 29, 9))
	e := w.e
	w.shortItem(t, "T-DL5", 10)
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	id := w.submit(t, w.clerk, "T-DL5", res.ID, "", idCard).Str("submitApplication.application.id")
	r := w.mustMove(t, w.clerk, id, "ACCEPT", "")
	mustEqual(t, "deadline", r.Str("transitionApplication.application.deadline"), "2026-10-12")

	// EXTEND (ADMIN, once): 10 more working days from 10-12 is 10-26.
	r = w.move(t, w.clerk, id, "EXTEND", "", nil)
	mustEqual(t, "clerk extends", r.ErrorCode(), "FORBIDDEN")
	r = w.mustMove(t, w.admin, id, "EXTEND", "需要现场核查")
	a := "transitionApplication.application."
	mustEqual(t, "extended deadline", r.Str(a+"deadline"), "2026-10-26")
	mustEqual(t, "status kept", r.Str(a+"status"), "ACCEPTED")
	mustEqual(t, "extended", r.Get(a+"extended"), any(true))
	mustEqual(t, "event", r.Str(a+"events.2.action"), "EXTEND")
	mustEqual(t, "event from", r.Str(a+"events.2.fromStatus"), "ACCEPTED")
	mustEqual(t, "event to", r.Str(a+"events.2.toStatus"), "ACCEPTED")
	w.mustMove(t, w.cw, id, "START_REVIEW", "")
	r = w.move(t, w.admin, id, "EXTEND", "", nil)
	mustEqual(t, "second extension", r.Str("transitionApplication.userErrors.0.code"), "INVALID_TRANSITION")
	mustEqual(t, "deadline unchanged", e.MustDo(t, w.cw, `query($id: ID!) { application(id: $id) { deadline } }`,
		map[string]any{"id": id}).Str("application.deadline"), "2026-10-26")

	t.Run("extend while in review", func(t *testing.T) {
		id := w.submit(t, w.clerk, "T-DL5", res.ID, "", idCard).Str("submitApplication.application.id")
		w.mustMove(t, w.clerk, id, "ACCEPT", "")
		w.mustMove(t, w.cw, id, "START_REVIEW", "")
		r := w.mustMove(t, w.admin, id, "EXTEND", "需要专家论证")
		mustEqual(t, "deadline", r.Str("transitionApplication.application.deadline"), "2026-10-26")
		w.mustMove(t, w.cw, id, "APPROVE", "")
		r = w.move(t, w.admin, id, "EXTEND", "", nil)
		mustEqual(t, "extend approved", r.Str("transitionApplication.userErrors.0.code"), "INVALID_TRANSITION")
	})
	t.Run("across the year end and 元旦", func(t *testing.T) {
		// 2025-12-30 (Tuesday) + 5: 12-31 (1), 元旦 01-01..03 off, Sunday 01-04 worked (2), 01-05 (3), 01-06 (4), 01-07 (5).
		w.setClock(t, at(2025, time.December, 30, 15))
		id := w.submit(t, w.clerk, "T-DL5", res.ID, "", idCard).Str("submitApplication.application.id")
		r := w.mustMove(t, w.clerk, id, "ACCEPT", "")
		mustEqual(t, "deadline", r.Str("transitionApplication.application.deadline"), "2026-01-07")
	})
	t.Run("acceptance date is the Shanghai date", func(t *testing.T) {
		// 2026-09-29 23:30 in Shanghai is 15:30 UTC: still the 29th.
		w.setClock(t, time.Date(2026, time.September, 29, 15, 30, 0, 0, time.UTC))
		id := w.submit(t, w.clerk, "T-DL5", res.ID, "", idCard).Str("submitApplication.application.id")
		r := w.mustMove(t, w.clerk, id, "ACCEPT", "")
		mustEqual(t, "deadline", r.Str("transitionApplication.application.deadline"), "2026-10-12")
	})
}

// TestCalendar: workingDaysBetween uses the seeded 2026 calendar, and
// setCalendarDay (ADMIN) takes effect at once for new deadlines.
func TestCalendar(t *testing.T) {
	w := newWorld(t, at(2026, time.March, 2, 9))
	e := w.e
	const q = `query($f: Date!, $t: Date!) { workingDaysBetween(from: $f, to: $t) }`
	between := func(from, to string) float64 {
		t.Helper()
		r := e.MustDo(t, w.clerk, q, map[string]any{"f": from, "t": to})
		return r.Get("workingDaysBetween").(float64)
	}
	// (09-30, 10-12]: 国庆 10-01..07 off; 10-08, 10-09, Saturday 10-10 worked, 10-12.
	mustEqual(t, "国庆", between("2026-09-30", "2026-10-12"), 4)
	// 春节: Saturday 02-14 worked (1), 02-15..23 off, 02-24..27 (4), Saturday 02-28 worked (1).
	mustEqual(t, "春节", between("2026-02-13", "2026-02-28"), 6)
	mustEqual(t, "元旦 across the year end", between("2025-12-31", "2026-01-05"), 2)
	mustEqual(t, "same day", between("2026-03-02", "2026-03-02"), 0)
	mustEqual(t, "reversed", between("2026-03-09", "2026-03-02"), -5)

	r := e.Do(t, w.clerk, `mutation { setCalendarDay(date: "2026-03-04", kind: HOLIDAY) }`, nil)
	mustEqual(t, "clerk sets calendar", r.ErrorCode(), "FORBIDDEN")
	mustEqual(t, "week before", between("2026-03-02", "2026-03-06"), 4)
	e.MustDo(t, w.admin, `mutation { setCalendarDay(date: "2026-03-04", kind: HOLIDAY) }`, nil)
	mustEqual(t, "week after HOLIDAY", between("2026-03-02", "2026-03-06"), 3)
	e.MustDo(t, w.admin, `mutation { setCalendarDay(date: "2026-03-07", kind: WORKDAY) }`, nil)
	mustEqual(t, "with a WORKDAY Saturday", between("2026-03-02", "2026-03-08"), 4)
	e.MustDo(t, w.admin, `mutation { setCalendarDay(date: "2026-03-04", kind: WORKDAY) }`, nil)
	mustEqual(t, "HOLIDAY turned back", between("2026-03-02", "2026-03-08"), 5)
	var kind string
	testenv.MustScan(t, e.DB, "SELECT kind FROM calendar_days WHERE date = '2026-03-04'", nil, &kind)
	mustEqual(t, "stored kind", kind, "WORKDAY")

	// The seeded calendar holds exactly workday.Official2026.
	var n int64
	testenv.MustScan(t, e.DB, "SELECT count(*) FROM calendar_days WHERE date BETWEEN '2026-01-01' AND '2026-12-31' AND date NOT IN ('2026-03-04', '2026-03-07')", nil, &n)
	mustEqual(t, "seeded 2026 days", n, int64(39))

	// A new deadline sees an admin's change at once (the cache is invalidated).
	w.shortItem(t, "T-CAL", 0)
	e.MustDo(t, w.admin, `mutation { setCalendarDay(date: "2026-03-05", kind: HOLIDAY) }`, nil)
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}})
	id := w.submit(t, w.clerk, "T-CAL", res.ID, "", idCard).Str("submitApplication.application.id")
	// From Monday 03-02: 03-03 (1), 03-04 (2, turned back), 03-05 off, 03-06 (3), Saturday 03-07 (4), 03-09 (5).
	r = w.mustMove(t, w.clerk, id, "ACCEPT", "")
	mustEqual(t, "deadline", r.Str("transitionApplication.application.deadline"), "2026-03-09")
}

// TestOverdue: an open application is overdue the day after its deadline;
// a completed one stays overdue when it was completed late.
func TestOverdue(t *testing.T) {
	w := newWorld(t, at(2026, time.September, 29, 9))
	e := w.e
	w.shortItem(t, "T-OD", 10)
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104023001"}) // 牛市口街道
	late := w.submit(t, w.clerk, "T-OD", res.ID, "", idCard).Str("submitApplication.application.id")
	onTime := w.submit(t, w.clerk, "T-OD", res.ID, "", idCard).Str("submitApplication.application.id")
	for _, id := range []string{late, onTime} {
		mustEqual(t, "deadline", w.mustMove(t, w.clerk, id, "ACCEPT", "").Str("transitionApplication.application.deadline"), "2026-10-12")
		w.mustMove(t, w.cw2, id, "START_REVIEW", "")
		w.mustMove(t, w.cw2, id, "APPROVE", "")
	}
	overdue := func(id string) bool {
		t.Helper()
		return e.MustDo(t, w.cw2, `query($id: ID!) { application(id: $id) { overdue } }`, map[string]any{"id": id}).Get("application.overdue").(bool)
	}
	listOverdue := func(tok string) []string {
		t.Helper()
		r := e.MustDo(t, tok, `query($u: ID, $a: ID) { applications(filter: {overdue: true, handlingUnitId: $u, applicantId: $a}, first: 50) {
		  totalCount edges { node { id overdue } } } }`,
			map[string]any{"u": relay.ID("OrgUnit", unitID(t, e, "510104023")), "a": residentGID(res.ID)})
		var ids []string
		for _, ed := range r.Get("applications.edges").([]any) {
			ids = append(ids, ed.(map[string]any)["node"].(map[string]any)["id"].(string))
		}
		return ids
	}

	w.setClock(t, at(2026, time.October, 12, 23)) // the deadline day itself
	mustEqual(t, "on the deadline day", overdue(late), false)
	w.mustMove(t, w.cw2, onTime, "COMPLETE", "")
	mustEqual(t, "completed on the deadline day", overdue(onTime), false)

	w.setClock(t, at(2026, time.October, 13, 8))
	mustEqual(t, "the day after", overdue(late), true)
	mustEqual(t, "completed on time stays on time", overdue(onTime), false)
	got := listOverdue(w.cw2)
	if len(got) != 1 || got[0] != late {
		t.Fatalf("overdue list = %v, want [%s]", got, late)
	}
	mustEqual(t, "street A case worker sees none of street B's", len(listOverdue(w.cw)), 0)

	w.setClock(t, at(2026, time.October, 14, 10))
	r := w.mustMove(t, w.cw2, late, "COMPLETE", "")
	mustEqual(t, "completed late", r.Get("transitionApplication.application.overdue"), any(true))
	mustEqual(t, "still listed", len(listOverdue(w.cw2)), 1)
	r = e.MustDo(t, w.cw2, `query($a: ID) { applications(filter: {overdue: false, status: COMPLETED, applicantId: $a}, first: 10) { totalCount } }`,
		map[string]any{"a": residentGID(res.ID)})
	mustEqual(t, "not overdue", r.Get("applications.totalCount"), any(float64(1)))
}

// TestStats: completed in the period, on time, the rate and open overdue
// on a constructed set in 盐市口街道, where no other test applies.
func TestStats(t *testing.T) {
	w := newWorld(t, at(2026, time.June, 1, 9))
	e := w.e
	w.shortItem(t, "T-ST", 0)
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104025001"})
	street := relay.ID("OrgUnit", unitID(t, e, "510104025"))
	mk := func(status, deadline string, completedOn string) {
		t.Helper()
		id := w.submit(t, w.clerk, "T-ST", res.ID, "", idCard).Str("submitApplication.application.id")
		_, uid, _ := relay.Parse(id)
		var err error
		if completedOn == "" {
			err = e.DB.Exec(`UPDATE applications SET status = ?, accepted_at = now(), deadline = ? WHERE id = ?`, status, deadline, uid).Error
		} else {
			err = e.DB.Exec(`UPDATE applications SET status = ?, accepted_at = now(), deadline = ?, completed_at = ?::date + time '10:00',
			  completed_on = ? WHERE id = ?`, status, deadline, completedOn, completedOn, uid).Error
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("COMPLETED", "2026-06-10", "2026-06-05")      // on time
	mk("COMPLETED", "2026-06-10", "2026-06-10")      // on time, on the day
	mk("DENIED", "2026-06-10", "2026-06-12")         // late
	mk("COMPLETED", "2026-05-10", "2026-05-08")      // outside the period
	mk("IN_REVIEW", "2026-06-15", "")                // open, overdue on 06-20
	mk("ACCEPTED", "2026-06-25", "")                 // open, not yet due
	w.submit(t, w.clerk, "T-ST", res.ID, "", idCard) // submitted, no deadline
	w.setClock(t, at(2026, time.June, 20, 9))

	const q = `query($u: ID) { applicationStats(from: "2026-06-01", to: "2026-06-30", orgUnitId: $u) { completed completedOnTime onTimeRate openOverdue } }`
	r := e.MustDo(t, w.auditor, q, map[string]any{"u": street})
	s := "applicationStats."
	mustEqual(t, "completed", r.Get(s+"completed"), any(float64(3)))
	mustEqual(t, "on time", r.Get(s+"completedOnTime"), any(float64(2)))
	if rate := r.Get(s + "onTimeRate").(float64); rate < 0.6666 || rate > 0.6667 {
		t.Fatalf("rate = %v", rate)
	}
	mustEqual(t, "open overdue", r.Get(s+"openOverdue"), any(float64(1)))
	// A case worker of the street reads the same figures; without a unit their own street is used.
	cw3 := caseWorkerAt(t, e, "510104025")
	mustEqual(t, "case worker", e.MustDo(t, cw3, q, map[string]any{"u": street}).Get(s+"completedOnTime"), any(float64(2)))
	mustEqual(t, "own scope", e.MustDo(t, cw3, q, map[string]any{"u": nil}).Get(s+"completed"), any(float64(3)))
	// The community below the street: the set lies in 东御街社区's street, not in the community unit itself.
	mustEqual(t, "community", e.MustDo(t, cw3, q, map[string]any{"u": relay.ID("OrgUnit", unitID(t, e, "510104025001"))}).Get(s+"completed"), any(float64(0)))

	// Another street has nothing: the rate is 1.
	other := relay.ID("OrgUnit", unitID(t, e, "510104020"))
	r = e.MustDo(t, w.admin, q, map[string]any{"u": other})
	mustEqual(t, "empty completed", r.Get(s+"completed"), any(float64(0)))
	mustEqual(t, "empty rate", r.Get(s+"onTimeRate"), any(float64(1)))
	// A case worker may not read another street's figures; a resident none.
	mustEqual(t, "other street", e.Do(t, w.cw, q, map[string]any{"u": street}).ErrorCode(), "FORBIDDEN")
	mustEqual(t, "resident", e.Do(t, residentToken(t, e, res.ID), q, map[string]any{"u": nil}).ErrorCode(), "FORBIDDEN")
	mustEqual(t, "bad range", e.Do(t, w.admin, `{ applicationStats(from: "2026-07-01", to: "2026-06-01") { completed } }`, nil).ErrorCode(), "BAD_USER_INPUT")
}

var _ = uuid.Nil
