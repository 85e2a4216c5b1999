package application

import (
	"github.com/jinjiang/residents/internal/auth"
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
	applicant    bool // the viewer is the applicant themself (mini-program)
	covers       bool // the viewer's unit covers the handling unit
	districtWide bool // the item is accepted at any center
}

var errOutOfJurisdiction = problem.New(problem.OutOfJurisdiction, "the handling unit is outside your jurisdiction")

// may decides whether the actor may take action.
func (a actor) may(action Action) error {
	v := a.v
	if v.Has(auth.Admin) {
		return nil
	}
	switch action {
	case Accept, RequestSupplement, Reject:
		// 受理 / 补正 / 不予受理: the counter. District-wide items at any
		// counter; local ones only inside the handling unit.
		switch {
		case v.Has(auth.Clerk) && a.districtWide:
			return nil
		case v.Has(auth.Clerk, auth.CaseWorker):
			return a.inside()
		}
	case Resubmit, Withdraw:
		switch {
		case a.applicant:
			return nil
		case v.Has(auth.Clerk) && a.districtWide:
			return nil
		case v.Has(auth.Clerk) || (action == Resubmit && v.Has(auth.CaseWorker)):
			return a.inside()
		}
	case StartReview, Approve, Deny:
		if v.Has(auth.CaseWorker) {
			return a.inside()
		}
	case Complete:
		if v.Has(auth.Clerk, auth.CaseWorker) {
			return a.inside()
		}
	case Extend:
		// ADMIN only (handled above).
	}
	return problem.Forbidden("your role may not " + string(action) + " this application")
}

func (a actor) inside() error {
	if a.covers {
		return nil
	}
	return errOutOfJurisdiction
}
