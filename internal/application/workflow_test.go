package application_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/jinjiang/residents/graph/relay"
	"github.com/jinjiang/residents/internal/testenv"
)

// TestHappyPathAcrossStreets: a resident of 春熙路街道 (street A) applies at
// the 牛市口街道 (street B) center; a street-B clerk accepts (全区通办), the
// street-A case worker reviews and approves, and street A completes it.
func TestHappyPathAcrossStreets(t *testing.T) {
	w := newWorld(t, at(2026, time.September, 29, 10)) // a Tuesday before 国庆
	e := w.e
	res := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, Name: "张大爷", CommunityCode: "510104020001"})

	r := w.submit(t, w.clerkB, "YLFWQ-SL", res.ID, "牛市口街道便民服务中心", allMaterials)
	app := "submitApplication.application."
	id := r.Str(app + "id")
	if !regexp.MustCompile(`^JJ20260929\d{6}$`).MatchString(r.Str(app + "number")) {
		t.Fatalf("number %q", r.Str(app+"number"))
	}
	mustEqual(t, "status", r.Str(app+"status"), "SUBMITTED")
	mustEqual(t, "handling unit", r.Str(app+"handlingUnit.code"), "510104020")
	mustEqual(t, "center", r.Str(app+"center.name"), "牛市口街道便民服务中心")
	mustEqual(t, "materials", r.Str(app+"materials.1.name"), "户口簿")
	if r.Get(app+"deadline") != nil {
		t.Fatalf("deadline before acceptance: %v", r.Get(app+"deadline"))
	}

	// Street B's clerk accepts: district-wide items are accepted at any counter.
	r = w.mustMove(t, w.clerkB, id, "ACCEPT", "材料齐全，予以受理")
	mustEqual(t, "status", r.Str("transitionApplication.application.status"), "ACCEPTED")
	// 15 working days from 2026-09-29 across 国庆 (10-01..07 off, 10-10 Saturday worked): 2026-10-26.
	mustEqual(t, "deadline", r.Str("transitionApplication.application.deadline"), "2026-10-26")

	// Street B's case worker may not decide for street A.
	r = w.move(t, w.cw2, id, "START_REVIEW", "", nil)
	mustEqual(t, "caseworker2 code", r.Str("transitionApplication.userErrors.0.code"), "OUT_OF_JURISDICTION")

	w.mustMove(t, w.cw, id, "START_REVIEW", "")
	w.mustMove(t, w.cw, id, "APPROVE", "符合条件")
	w.setClock(t, at(2026, time.October, 15, 16))
	r = w.mustMove(t, w.cw, id, "COMPLETE", "已发放")
	a := "transitionApplication.application."
	mustEqual(t, "status", r.Str(a+"status"), "COMPLETED")
	mustEqual(t, "overdue", r.Get(a+"overdue"), any(false))
	if r.Str(a+"completedAt") == "" || r.Str(a+"acceptedAt") == "" {
		t.Fatalf("timestamps missing: %s", r.Raw)
	}
	evs := r.Get(a + "events").([]any)
	want := [][3]string{{"SUBMIT", "SUBMITTED", "SUBMITTED"}, {"ACCEPT", "SUBMITTED", "ACCEPTED"}, {"START_REVIEW", "ACCEPTED", "IN_REVIEW"},
		{"APPROVE", "IN_REVIEW", "APPROVED"}, {"COMPLETE", "APPROVED", "COMPLETED"}}
	if len(evs) != len(want) {
		t.Fatalf("events: %s", r.Raw)
	}
	for i, w := range want {
		ev := evs[i].(map[string]any)
		if ev["action"] != w[0] || ev["fromStatus"] != w[1] || ev["toStatus"] != w[2] || ev["at"] == "" {
			t.Fatalf("event %d = %v, want %v", i, ev, w)
		}
	}
	mustEqual(t, "accept actor", evs[1].(map[string]any)["actorName"], any("刘柜员 (牛市口便民服务中心)"))
	mustEqual(t, "accept note", evs[1].(map[string]any)["note"], any("材料齐全，予以受理"))
	mustEqual(t, "review actor", evs[2].(map[string]any)["actorName"], any("李社工 (春熙路街道)"))
	var cwID string
	testenv.MustScan(t, e.DB, "SELECT id::text FROM users WHERE username = 'caseworker'", nil, &cwID)
	r = e.MustDo(t, w.cw, `query($id: ID!) { application(id: $id) { events { actorId } } }`, map[string]any{"id": id})
	_, actor, _ := relay.Parse(r.Str("application.events.2.actorId"))
	mustEqual(t, "review actor id", actor.String(), cwID)

	// Every step is in the audit log: this application's submission and its
	// four moves (the refused START_REVIEW wrote nothing).
	_, appID, _ := relay.Parse(id)
	var n int64
	testenv.MustScan(t, e.DB, `SELECT count(*) FROM audit_log WHERE entity = 'Application' AND entity_id = ?
		AND action IN ('submitApplication', 'transitionApplication')`, testenv.Args(appID), &n)
	if n != 5 {
		t.Fatalf("audit entries = %d, want 5", n)
	}
	// Applicant and item resolve through the loaders.
	q := e.MustDo(t, w.cw, `query($id: ID!) { application(id: $id) { applicant { name } item { name districtWide } } }`, map[string]any{"id": id})
	mustEqual(t, "applicant", q.Str("application.applicant.name"), "张大爷")
	mustEqual(t, "item", q.Str("application.item.name"), "养老服务券申领")
}

// TestRefusedTransitions: each action refused for the wrong state, role,
// jurisdiction or input, with nothing changed.
func TestRefusedTransitions(t *testing.T) {
	w := newWorld(t, at(2026, time.November, 3, 10))
	e := w.e
	resA := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104020001"})
	resB := e.InsertResident(t, testenv.ResidentSpec{Statuses: []string{}, CommunityCode: "510104023001"})
	resATok := residentToken(t, e, resA.ID)
	resBTok := residentToken(t, e, resB.ID)
	w.localItem(t)

	// newApp makes an application of resident A in the given state.
	newApp := func(t *testing.T, item string, mats []map[string]any, path ...string) string {
		t.Helper()
		tok := w.clerk
		r := w.submit(t, tok, item, resA.ID, "春熙路街道便民服务中心", mats)
		id := r.Str("submitApplication.application.id")
		for _, step := range path {
			actor := w.cw
			if step == "REQUEST_SUPPLEMENT" || step == "ACCEPT" {
				actor = w.clerk
			}
			w.mustMove(t, actor, id, step, "note")
		}
		return id
	}
	tests := []struct {
		name     string
		item     string
		mats     []map[string]any
		path     []string
		actor    func() string
		action   string
		note     string
		wantCode string // userErrors code, or extensions.code when transport
		wantErr  bool   // transport error
	}{
		{"accept with a required material missing", "YLFWQ-SL", allMaterials[:1], nil, func() string { return w.clerk }, "ACCEPT", "", "NOT_ELIGIBLE", false},
		{"accept twice", "YLFWQ-SL", allMaterials, []string{"ACCEPT"}, func() string { return w.clerk }, "ACCEPT", "", "INVALID_TRANSITION", false},
		{"approve before review", "YLFWQ-SL", allMaterials, []string{"ACCEPT"}, func() string { return w.cw }, "APPROVE", "", "INVALID_TRANSITION", false},
		{"complete before approval", "YLFWQ-SL", allMaterials, []string{"ACCEPT", "START_REVIEW"}, func() string { return w.cw }, "COMPLETE", "", "INVALID_TRANSITION", false},
		{"resubmit without a supplement request", "YLFWQ-SL", allMaterials, nil, func() string { return w.clerk }, "RESUBMIT", "", "INVALID_TRANSITION", false},
		{"reject without a reason", "YLFWQ-SL", allMaterials, nil, func() string { return w.clerk }, "REJECT", "", "INVALID", false},
		{"deny without a reason", "YLFWQ-SL", allMaterials, []string{"ACCEPT", "START_REVIEW"}, func() string { return w.cw }, "DENY", "", "INVALID", false},
		{"reject after acceptance", "YLFWQ-SL", allMaterials, []string{"ACCEPT"}, func() string { return w.clerk }, "REJECT", "理由", "INVALID_TRANSITION", false},
		{"withdraw a completed application", "YLFWQ-SL", allMaterials, []string{"ACCEPT", "START_REVIEW", "APPROVE", "COMPLETE"}, func() string { return resATok }, "WITHDRAW", "", "INVALID_TRANSITION", false},
		{"extend a submitted application", "YLFWQ-SL", allMaterials, nil, func() string { return w.admin }, "EXTEND", "", "INVALID_TRANSITION", false},
		{"extend an item without extension", "LSJZ-SQ", []map[string]any{{"name": "居民身份证"}, {"name": "临时救助申请书"}, {"name": "家庭经济状况核对授权书"}}, []string{"ACCEPT"}, func() string { return w.admin }, "EXTEND", "", "INVALID_TRANSITION", false},
		{"clerk reviews", "YLFWQ-SL", allMaterials, []string{"ACCEPT"}, func() string { return w.clerk }, "START_REVIEW", "", "FORBIDDEN", true},
		{"clerk approves", "YLFWQ-SL", allMaterials, []string{"ACCEPT", "START_REVIEW"}, func() string { return w.clerkB }, "APPROVE", "", "FORBIDDEN", true},
		{"other street's case worker approves", "YLFWQ-SL", allMaterials, []string{"ACCEPT", "START_REVIEW"}, func() string { return w.cw2 }, "APPROVE", "", "OUT_OF_JURISDICTION", false},
		{"other street's case worker accepts", "YLFWQ-SL", allMaterials, nil, func() string { return w.cw2 }, "ACCEPT", "", "OUT_OF_JURISDICTION", false},
		{"other street's clerk completes", "YLFWQ-SL", allMaterials, []string{"ACCEPT", "START_REVIEW", "APPROVE"}, func() string { return w.clerkB }, "COMPLETE", "", "OUT_OF_JURISDICTION", false},
		{"other street's clerk accepts a local item", "T-LOCAL", []map[string]any{{"name": "居民身份证"}, {"name": "近期一寸免冠照片"}, {"name": "居住证明（租赁合同或房产证）"}}, nil, func() string { return w.clerkB }, "ACCEPT", "", "OUT_OF_JURISDICTION", false},
		{"case worker extends", "YLFWQ-SL", allMaterials, []string{"ACCEPT"}, func() string { return w.cw }, "EXTEND", "", "FORBIDDEN", true},
		{"applicant accepts own application", "YLFWQ-SL", allMaterials, nil, func() string { return resATok }, "ACCEPT", "", "FORBIDDEN", true},
		{"another resident withdraws", "YLFWQ-SL", allMaterials, nil, func() string { return resBTok }, "WITHDRAW", "", "NOT_FOUND", false},
		{"auditor withdraws", "YLFWQ-SL", allMaterials, nil, func() string { return w.auditor }, "WITHDRAW", "", "FORBIDDEN", true},
		{"operator accepts", "YLFWQ-SL", allMaterials, nil, func() string { return w.operator }, "ACCEPT", "", "FORBIDDEN", true},
		{"anonymous", "YLFWQ-SL", allMaterials, nil, func() string { return "" }, "WITHDRAW", "", "UNAUTHENTICATED", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := newApp(t, tc.item, tc.mats, tc.path...)
			before, evBefore := status(t, e, id), eventCount(t, e, id)
			r := w.move(t, tc.actor(), id, tc.action, tc.note, nil)
			if tc.wantErr {
				mustEqual(t, "error code", r.ErrorCode(), tc.wantCode)
			} else {
				if len(r.Errors) > 0 {
					t.Fatalf("unexpected error: %s", r.Raw)
				}
				mustEqual(t, "user error code", r.Str("transitionApplication.userErrors.0.code"), tc.wantCode)
				if r.Get("transitionApplication.application") != nil {
					t.Fatalf("application returned with an error: %s", r.Raw)
				}
			}
			mustEqual(t, "status unchanged", status(t, e, id), before)
			mustEqual(t, "no event", eventCount(t, e, id), evBefore)
		})
	}

	t.Run("missing material is named", func(t *testing.T) {
		id := newApp(t, "YLFWQ-SL", allMaterials[:1])
		r := w.move(t, w.clerk, id, "ACCEPT", "", nil)
		if msg := r.Str("transitionApplication.userErrors.0.message"); !regexp.MustCompile("户口簿").MatchString(msg) {
			t.Fatalf("message %q does not name the material", msg)
		}
	})
	t.Run("supplement and resubmit", func(t *testing.T) {
		id := newApp(t, "YLFWQ-SL", allMaterials[:1], "REQUEST_SUPPLEMENT")
		r := w.move(t, resATok, id, "RESUBMIT", "", nil)
		mustEqual(t, "resubmit without materials", r.Str("transitionApplication.userErrors.0.code"), "INVALID")
		r = w.move(t, resATok, id, "RESUBMIT", "补交户口簿", []map[string]any{{"name": "户口簿", "reference": "sha256:09"}})
		mustEqual(t, "status", r.Str("transitionApplication.application.status"), "SUBMITTED")
		mustEqual(t, "materials", r.Str("transitionApplication.application.materials.1.reference"), "sha256:09")
		r = w.mustMove(t, w.clerkB, id, "ACCEPT", "")
		mustEqual(t, "status", r.Str("transitionApplication.application.status"), "ACCEPTED")
	})
	t.Run("reject with a reason", func(t *testing.T) {
		id := newApp(t, "YLFWQ-SL", allMaterials)
		r := w.mustMove(t, w.clerkB, id, "REJECT", "不属于本事项受理范围")
		mustEqual(t, "status", r.Str("transitionApplication.application.status"), "REJECTED")
		mustEqual(t, "note", r.Str("transitionApplication.application.events.1.note"), "不属于本事项受理范围")
		r = w.move(t, w.clerk, id, "WITHDRAW", "", nil)
		mustEqual(t, "withdraw rejected", r.Str("transitionApplication.userErrors.0.code"), "INVALID_TRANSITION")
	})
	t.Run("withdraw by applicant and by clerk from open states", func(t *testing.T) {
		for _, tc := range []struct {
			tok  func() string
			path []string
		}{{func() string { return resATok }, nil}, {func() string { return resATok }, []string{"ACCEPT", "START_REVIEW"}},
			{func() string { return w.clerkB }, []string{"REQUEST_SUPPLEMENT"}}, {func() string { return w.clerk }, []string{"ACCEPT", "START_REVIEW", "APPROVE"}}} {
			id := newApp(t, "YLFWQ-SL", allMaterials, tc.path...)
			r := w.mustMove(t, tc.tok(), id, "WITHDRAW", "")
			mustEqual(t, "status", r.Str("transitionApplication.application.status"), "WITHDRAWN")
		}
	})
	t.Run("deny concludes the case", func(t *testing.T) {
		id := newApp(t, "YLFWQ-SL", allMaterials, "ACCEPT", "START_REVIEW")
		r := w.mustMove(t, w.cw, id, "DENY", "年龄不符合条件")
		mustEqual(t, "status", r.Str("transitionApplication.application.status"), "DENIED")
		if r.Str("transitionApplication.application.completedAt") == "" {
			t.Fatal("completedAt not set on denial")
		}
	})
}
