package application

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/problem"
	"github.com/jinjiang/residents/internal/workday"
)

// TestTransitionTable checks every (action, status) pair against the
// workflow of DESIGN.md "Applications".
func TestTransitionTable(t *testing.T) {
	want := map[Action]map[Status]Status{
		Accept:            {Submitted: Accepted},
		RequestSupplement: {Submitted: SupplementRequested},
		Reject:            {Submitted: Rejected},
		Resubmit:          {SupplementRequested: Submitted},
		StartReview:       {Accepted: InReview},
		Approve:           {InReview: Approved},
		Deny:              {InReview: Denied},
		Complete:          {Approved: Completed},
		Withdraw:          {Submitted: Withdrawn, SupplementRequested: Withdrawn, Accepted: Withdrawn, InReview: Withdrawn, Approved: Withdrawn},
		Extend:            {Accepted: Accepted, InReview: InReview},
		PauseClock:        {Accepted: Accepted, InReview: InReview},
		ResumeClock:       {Accepted: Accepted, InReview: InReview},
	}
	for action, moves := range want {
		for _, from := range allStatuses {
			got, err := next(action, from)
			to, ok := moves[from]
			switch {
			case ok && (err != nil || got != to):
				t.Errorf("%s from %s = %s, %v; want %s", action, from, got, err, to)
			case !ok:
				var ue *problem.UserError
				if !errors.As(err, &ue) || ue.Code != problem.InvalidTransition {
					t.Errorf("%s from %s = %s, %v; want INVALID_TRANSITION", action, from, got, err)
				}
			}
		}
	}
	if len(transitions) != len(want) {
		t.Errorf("transition table has %d actions, want %d", len(transitions), len(want))
	}
	if _, err := next("FLY", Submitted); err == nil {
		t.Error("unknown action accepted")
	}
	for _, s := range allStatuses {
		open := s == Submitted || s == SupplementRequested || s == Accepted || s == InReview || s == Approved
		if s.Open() != open {
			t.Errorf("%s.Open() = %v", s, s.Open())
		}
	}
}

// TestMay checks the role and jurisdiction rules per action.
func TestMay(t *testing.T) {
	viewer := func(roles ...auth.Role) *auth.Viewer {
		return &auth.Viewer{Kind: auth.SubjectUser, Roles: roles, OrgPath: "/510104/510104020/"}
	}
	admin, clerk, cw := viewer(auth.Admin), viewer(auth.Clerk), viewer(auth.CaseWorker)
	self := uuid.Must(uuid.NewV7())
	res := &auth.Viewer{Kind: auth.SubjectWechat, Roles: []auth.Role{auth.Resident}, ResidentID: &self}
	const ok, forbidden, outside = "", "FORBIDDEN", "OUT_OF_JURISDICTION"
	tests := []struct {
		v                       *auth.Viewer
		applicant, covers, wide bool
		action                  Action
		want                    string
	}{
		{admin, false, false, false, Extend, ok},
		{clerk, false, false, false, Extend, forbidden},
		{clerk, false, false, true, Accept, ok},
		{clerk, false, false, false, Accept, outside},
		{clerk, false, true, false, Accept, ok},
		{cw, false, false, true, Accept, outside},
		{cw, false, true, true, Reject, ok},
		{res, true, false, true, Accept, forbidden},
		{res, true, false, false, Withdraw, ok},
		{res, true, false, true, Resubmit, ok},
		{clerk, false, false, true, Withdraw, ok},
		{clerk, false, false, false, Withdraw, outside},
		{cw, false, true, true, Withdraw, forbidden},
		{cw, false, true, true, Resubmit, ok},
		{clerk, false, true, true, StartReview, forbidden},
		{cw, false, false, true, Approve, outside},
		{cw, false, true, true, Deny, ok},
		{clerk, false, true, true, Complete, ok},
		{clerk, false, false, true, Complete, outside},
		{res, true, true, true, Complete, forbidden},
	}
	for _, tc := range tests {
		a := actor{v: tc.v, applicantID: uuid.Must(uuid.NewV7()), handlingPath: "/510104/510104023/", districtWide: tc.wide}
		if tc.applicant {
			a.applicantID = self
		}
		if tc.covers {
			a.handlingPath = "/510104/510104020/001/"
		}
		err := a.may(tc.action)
		got := ok
		var ue *problem.UserError
		switch {
		case errors.Is(err, problem.ErrForbidden):
			got = forbidden
		case errors.As(err, &ue):
			got = string(ue.Code)
		case err != nil:
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%v applicant=%v covers=%v wide=%v %s = %q, want %q", tc.v.Roles, tc.applicant, tc.covers, tc.wide, tc.action, got, tc.want)
		}
	}
}

func TestOverdueRule(t *testing.T) {
	d := civil.Date{Year: 2026, Month: 10, Day: 12}
	after, before := d.AddDays(1), d.AddDays(-1)
	tests := []struct {
		a     Application
		today civil.Date
		want  bool
	}{
		{Application{Status: Submitted}, after, false},
		{Application{Status: Accepted, Deadline: &d}, d, false},
		{Application{Status: InReview, Deadline: &d}, after, true},
		{Application{Status: Completed, Deadline: &d, CompletedOn: &d}, after.AddDays(30), false},
		{Application{Status: Completed, Deadline: &d, CompletedOn: &after}, after, true},
		{Application{Status: Withdrawn, Deadline: &d}, after, false},
		{Application{Status: Approved, Deadline: &d}, before, false},
	}
	for i, tc := range tests {
		if got := tc.a.overdue(tc.today); got != tc.want {
			t.Errorf("case %d: overdue = %v, want %v", i, got, tc.want)
		}
	}
}

func TestMaterials(t *testing.T) {
	ref := "sha256:1"
	got := mergeMaterials([]SubmittedMaterial{{Name: "a"}, {Name: "b"}}, []SubmittedMaterial{{Name: "b", Reference: &ref}, {Name: "c"}})
	if len(got) != 3 || got[1].Reference == nil || got[2].Name != "c" {
		t.Fatalf("merge = %+v", got)
	}
	missing := missingMaterials([]Material{{"a", true}, {"x", true}, {"y", false}}, got)
	if strings.Join(missing, ",") != "x" {
		t.Fatalf("missing = %v", missing)
	}
}

// FuzzValidateItem: validation never panics, and what it accepts fits the
// table's constraints.
func FuzzValidateItem(f *testing.F) {
	f.Add("YLFWQ-SL", "养老服务券申领", 15, 10, "居民身份证", "户口簿")
	f.Add("", "", 0, -1, "", "")
	f.Add("a b", "x", 366, 0, "同", "同")
	f.Fuzz(func(t *testing.T, code, name string, limit, ext int, m1, m2 string) {
		in := ItemInput{Code: code, Name: name, TimeLimitWorkingDays: limit, ExtensionWorkingDays: ext,
			Materials: []Material{{m1, true}, {m2, false}}, DepartmentID: &uuid.Nil}
		if err := validateItem(&in); err != nil {
			if _, ok := problem.AsUserErrors(err); !ok {
				t.Fatalf("not a user error: %v", err)
			}
			return
		}
		if !codePattern.MatchString(in.Code) || in.TimeLimitWorkingDays < 1 || in.TimeLimitWorkingDays > 365 ||
			in.ExtensionWorkingDays < 0 || in.Materials[0].Name == in.Materials[1].Name || in.Materials[0].Name == "" {
			t.Fatalf("accepted invalid input %+v", in)
		}
	})
}

// FuzzCleanMaterials: accepted materials have unique, trimmed, non-empty names.
func FuzzCleanMaterials(f *testing.F) {
	f.Add("户口簿", " 户口簿 ", "ref")
	f.Add("", "a", "")
	f.Fuzz(func(t *testing.T, a, b, ref string) {
		out, err := cleanMaterials([]SubmittedMaterial{{Name: a}, {Name: b, Reference: &ref}})
		if err != nil {
			return
		}
		if len(out) != 2 || out[0].Name == out[1].Name || out[0].Name == "" || strings.TrimSpace(out[1].Name) != out[1].Name {
			t.Fatalf("accepted %+v", out)
		}
	})
}

// FuzzSupplements: an accepted 补正 notice has trimmed, non-empty, unique
// materials each with a reason, and a resubmission of exactly its
// materials covers it while one short of them does not.
func FuzzSupplements(f *testing.F) {
	f.Add("户口簿", "未提交", "老年人能力评估报告", "已过期")
	f.Add(" ", "x", "a", "")
	f.Fuzz(func(t *testing.T, m1, r1, m2, r2 string) {
		out, err := cleanSupplements([]Supplement{{m1, r1}, {m2, r2}})
		if err != nil {
			return
		}
		if len(out) != 2 || out[0].Material == out[1].Material || out[0].Material == "" || out[1].Reason == "" ||
			strings.TrimSpace(out[0].Material) != out[0].Material {
			t.Fatalf("accepted %+v", out)
		}
		all := []SubmittedMaterial{{Name: out[0].Material}, {Name: out[1].Material}}
		if err := coversNotice(out, all); err != nil {
			t.Fatalf("exact resubmission refused: %v", err)
		}
		if err := coversNotice(out, all[:1]); err == nil {
			t.Fatal("a resubmission one short accepted")
		}
	})
}

// TestNoticeWindow: §32's window and the last receipt date it has closed
// for are consistent: received on lastDueReceipt(today), the window ended
// before today; received a day later, it had not.
func TestNoticeWindow(t *testing.T) {
	cal := calendarView{Calendar: workday.NewCalendar(nil), years: map[int]bool{2026: true}}
	for d := (civil.Date{Year: 2026, Month: 1, Day: 1}); d.Year == 2026; d = d.AddDays(1) {
		last := cal.lastDueReceipt(d)
		if !cal.noticeDue(last).Before(d) || cal.noticeDue(last.AddDays(1)).Before(d) {
			t.Fatalf("today %s: last due receipt %s", d, last)
		}
	}
}
