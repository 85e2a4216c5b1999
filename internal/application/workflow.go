package application

import (
	"context"

	"github.com/google/uuid"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// transition is one row of the workflow table: the statuses an action may
// start from and where it leads. EXTEND keeps the status.
type transition struct {
	from []Status
	to   Status
	// keep means the status stays as it is (EXTEND).
	keep bool
}

// transitions is the workflow, as DESIGN.md "Applications" states it.
var transitions = map[Action]transition{
	Accept:            {from: []Status{Submitted}, to: Accepted},
	RequestSupplement: {from: []Status{Submitted}, to: SupplementRequested},
	Reject:            {from: []Status{Submitted}, to: Rejected},
	Resubmit:          {from: []Status{SupplementRequested}, to: Submitted},
	StartReview:       {from: []Status{Accepted}, to: InReview},
	Approve:           {from: []Status{InReview}, to: Approved},
	Deny:              {from: []Status{InReview}, to: Denied},
	Complete:          {from: []Status{Approved}, to: Completed},
	Withdraw:          {from: OpenStatuses, to: Withdrawn},
	Extend:            {from: []Status{Accepted, InReview}, keep: true},
	PauseClock:        {from: []Status{Accepted, InReview}, keep: true},
	ResumeClock:       {from: []Status{Accepted, InReview}, keep: true},
}

// actionOrder is the order availableActions lists actions in.
var actionOrder = []Action{Accept, RequestSupplement, Reject, Resubmit, StartReview, PauseClock, ResumeClock,
	Extend, Approve, Deny, Complete, Withdraw}

// eventVisibility says who sees the event of an action: the hand-over to
// review is internal; every step the applicant must be told of (受理,
// 补正, 不予受理, decisions, extension and pauses of the limit, 办结,
// withdrawal) is visible to them.
func eventVisibility(a Action) Visibility {
	if a == StartReview {
		return Internal
	}
	return VisibleToApplicant
}

// next returns the status action leads to from cur, or INVALID_TRANSITION.
func next(action Action, cur Status) (Status, error) {
	t, ok := transitions[action]
	if !ok {
		return "", problem.New(problem.InvalidTransition, "unknown action", "action")
	}
	for _, f := range t.from {
		if f == cur {
			if t.keep {
				return cur, nil
			}
			return t.to, nil
		}
	}
	return "", problem.New(problem.InvalidTransition, string(action)+" is not possible while the application is "+string(cur), "action")
}

// actor says who may take an action on one application: a role check
// (FORBIDDEN, a transport error) and then jurisdiction over the handling
// unit (OUT_OF_JURISDICTION, a business failure).
type actor struct {
	v            *auth.Viewer
	applicantID  uuid.UUID // the applicant (who acts on their own through policy's Self reach)
	handlingPath string    // the handling unit's org path
	districtWide bool      // the item is accepted at any center
}

var errOutOfJurisdiction = problem.New(problem.OutOfJurisdiction, "the handling unit is outside your jurisdiction")

// authority is which policy action each workflow action needs, and
// whether it is a counter action: 受理 / 补正 / 不予受理, resubmission and
// withdrawal of a district-wide item may happen at any counter (全区通办,
// policy.TakeDistrictWideApplication); everything else happens inside the
// handling unit.
var authority = map[Action]struct {
	act     policy.Action
	counter bool
}{
	Accept:            {policy.HandleApplication, true},
	RequestSupplement: {policy.HandleApplication, true},
	Reject:            {policy.HandleApplication, true},
	Resubmit:          {policy.ResubmitApplication, true},
	Withdraw:          {policy.WithdrawApplication, true},
	StartReview:       {policy.DecideApplication, false},
	Approve:           {policy.DecideApplication, false},
	Deny:              {policy.DecideApplication, false},
	Complete:          {policy.HandleApplication, false},
	Extend:            {policy.ExtendApplication, false},
	PauseClock:        {policy.DecideApplication, false},
	ResumeClock:       {policy.DecideApplication, false},
}

// may decides whether the actor may take action: FORBIDDEN for a role that
// never may, OUT_OF_JURISDICTION for one that may inside its unit only.
func (a actor) may(action Action) error {
	rule, known := authority[action]
	subject := policy.Subject{ID: a.applicantID, OrgPath: a.handlingPath}
	switch ok, err := policy.On(a.v, rule.act, subject); {
	case !known:
	case err != nil:
		return err
	case ok:
		return nil
	case rule.counter && a.districtWide && policy.Allowed(a.v, policy.TakeDistrictWideApplication):
		return nil
	case policy.ReachOf(a.v, rule.act) >= policy.Subtree:
		return errOutOfJurisdiction
	}
	return problem.Forbidden("your role may not " + string(action) + " this application")
}

// AvailableActions lists the actions the viewer could take on a now: the
// workflow table, the policy (actor.may) and each action's own state
// preconditions, asked the same way Transition asks them. Preconditions on
// the input (a reason, the materials) are not checked: the client asks for them.
func (s *Service) AvailableActions(ctx context.Context, a *Application, it *Item) ([]Action, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	out := []Action{}
	if it == nil {
		return out, nil
	}
	if !policy.IsSelf(v, a.ApplicantID) && !policy.Allowed(v, policy.HandleApplication) {
		return out, nil
	}
	cal, err := s.calendar(ctx)
	if err != nil {
		return nil, err
	}
	window := !a.Today.After(cal.noticeDue(civil.DateOf(a.ReceivedAt)))
	act := actor{v: v, applicantID: a.ApplicantID, handlingPath: a.HandlingPath, districtWide: it.DistrictWide}
	for _, x := range actionOrder {
		if _, err := next(x, a.Status); err != nil {
			continue
		}
		if act.may(x) != nil {
			continue
		}
		ok := true
		switch x {
		case RequestSupplement:
			ok = window && a.SupplementNotice == nil
		case Reject:
			ok = window
		case Extend:
			ok = it.ExtensionWorkingDays > 0 && !a.Extended
		case PauseClock:
			ok = a.PausedSince == nil
		case ResumeClock:
			ok = a.PausedSince != nil
		}
		if ok {
			out = append(out, x)
		}
	}
	return out, nil
}

// VisibleEvents keeps the events the viewer may see: staff who read the
// application see all; the applicant sees those marked for the applicant.
func VisibleEvents(ctx context.Context, evs []*Event) []*Event {
	v := auth.ViewerFrom(ctx)
	if v != nil && policy.ScopeOf(v, policy.ReadApplications).Reach > policy.Self {
		return evs
	}
	out := make([]*Event, 0, len(evs))
	for _, e := range evs {
		if e.Visibility != Internal {
			out = append(out, e)
		}
	}
	return out
}
