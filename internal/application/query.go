package application

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/page"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// scope is what a viewer may read (policy.ReadApplications): everything, a
// handling-unit subtree, or one applicant's own applications.
type scope struct{ policy.Scope }

// readScope is the viewer's reach over applications; FORBIDDEN without one.
func readScope(ctx context.Context) (scope, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return scope{}, err
	}
	sc := policy.ScopeOf(v, policy.ReadApplications)
	if sc.Reach < policy.Self {
		return scope{}, problem.Forbidden("your role may not read applications")
	}
	return scope{sc}, nil
}

// apply filters by the handling unit's path, or the applicant for a
// resident's own.
func (sc scope) apply(q *gorm.DB) *gorm.DB {
	where, args := sc.Where("handling_path", "applicant_id")
	return q.Where(where, args...)
}

func (sc scope) allows(r *applicationRow) bool {
	return sc.Covers(r.ApplicantID, r.HandlingPath)
}

// openSQL is Status.Open in SQL, written out from OpenStatuses once at
// start-up. Literals rather than a `status = ANY(?)` parameter: the planner
// uses the partial index applications_open_deadline_idx only when it can
// prove from the query's own text that its rows satisfy the index
// predicate, which it cannot for a parameter in a generic plan.
var openSQL = "status IN (" + sqlStrings(OpenStatuses) + ")"

// openPastDeadlineSQL is the first half of Application.overdue in SQL: still
// open after the deadline, with today given by the SQL expression today.
func openPastDeadlineSQL(today string) string {
	return openSQL + " AND deadline < " + today + " AND " + pausedAfterDeadline
}

// overdueSQL is Application.overdue in SQL; the one parameter is today.
var overdueSQL = "COALESCE(deadline IS NOT NULL AND ((" + openPastDeadlineSQL("?") + ") OR completed_on > deadline), false)"

// pausedAfterDeadline: a §45 pause stops the clock, so an open application
// is overdue while paused only when it was overdue before the pause.
const pausedAfterDeadline = "(paused_since IS NULL OR paused_since > deadline)"

// sqlStrings writes values as a list of SQL string literals.
func sqlStrings[T ~string](values []T) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = "'" + strings.ReplaceAll(string(v), "'", "''") + "'"
	}
	return strings.Join(quoted, ", ")
}

// Get returns one application, or nil when it does not exist or the viewer
// may not read it.
func (s *Service) Get(ctx context.Context, id uuid.UUID) (*Application, error) {
	sc, err := readScope(ctx)
	if err != nil {
		return nil, err
	}
	var r applicationRow
	err = s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, database.Classify(fmt.Errorf("application: get: %w", err))
	}
	if !sc.allows(&r) {
		return nil, nil
	}
	return r.application(s.today())
}

// unitPath returns the path of an org unit; NOT_FOUND as a bad input.
func (s *Service) unitPath(ctx context.Context, id uuid.UUID) (string, error) {
	u, err := s.org.Unit(ctx, id)
	if err != nil {
		return "", err
	}
	if u == nil {
		return "", problem.BadInput("no such org unit")
	}
	return u.Path, nil
}

// List returns applications the viewer may read, newest first.
func (s *Service) List(ctx context.Context, f Filter, p page.Request) (page.Result[*Application], error) {
	sc, err := readScope(ctx)
	if v := auth.ViewerFrom(ctx); f.ApplicantID != nil && policy.MayProxy(v, *f.ApplicantID) {
		// A family proxy with VIEW reads the applications of the resident
		// it acts for (Resident.applications), as that resident's account
		// would: the scope becomes that applicant's. Anyone else keeps its
		// own scope, which finds none of that applicant's.
		_, perr := policy.ActForAction(ctx, s.proxies, policy.ReadApplications, *f.ApplicantID)
		switch {
		case perr == nil:
			sc, err = scope{policy.Scope{Reach: policy.Self, ResidentID: *f.ApplicantID}}, nil
		case !errors.Is(perr, problem.ErrForbidden):
			return page.Result[*Application]{}, perr
		}
	}
	if err != nil {
		return page.Result[*Application]{}, err
	}
	today := s.today()
	q := sc.apply(s.db.WithContext(ctx).Model(&applicationRow{}))
	if f.Status != nil {
		q = q.Where("status = ?", string(*f.Status))
	}
	if len(f.Statuses) > 0 {
		ss := make([]string, len(f.Statuses))
		for i, x := range f.Statuses {
			ss[i] = string(x)
		}
		q = q.Where("status = ANY(?)", pq.StringArray(ss))
	}
	if f.Open != nil {
		if *f.Open {
			q = q.Where(openSQL)
		} else {
			q = q.Where("NOT (" + openSQL + ")")
		}
	}
	if f.ApplicantID != nil {
		q = q.Where("applicant_id = ?", *f.ApplicantID)
	}
	if f.CenterID != nil {
		q = q.Where("center_id = ?", *f.CenterID)
	}
	if f.ItemID != nil {
		q = q.Where("item_id = ?", *f.ItemID)
	}
	if f.SubmittedFrom != nil {
		q = q.Where("submitted_at >= ?", f.SubmittedFrom.In(civil.Shanghai))
	}
	if f.SubmittedTo != nil {
		q = q.Where("submitted_at < ?", f.SubmittedTo.AddDays(1).In(civil.Shanghai))
	}
	if f.DeadlineBefore != nil {
		q = q.Where("deadline < ?", *f.DeadlineBefore)
	}
	if f.HandlingUnitID != nil {
		path, err := s.unitPath(ctx, *f.HandlingUnitID)
		if err != nil {
			return page.Result[*Application]{}, err
		}
		q = q.Where("handling_path LIKE ?", policy.LikePrefix(path))
	}
	if f.Overdue != nil {
		if *f.Overdue {
			q = q.Where(overdueSQL, today)
		} else {
			q = q.Where("NOT "+overdueSQL, today)
		}
	}
	q = q.Session(&gorm.Session{})
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return page.Result[*Application]{}, database.Classify(fmt.Errorf("application: count: %w", err))
	}
	var rows []applicationRow
	lq := q
	if f.Order == DeadlineFirst {
		// Keyset on (deadline, id) with those without a deadline last: the
		// cursor names an application, whose deadline sets the position.
		if p.After != nil {
			var pos applicationRow
			if err := s.db.WithContext(ctx).Select("id, deadline").Where("id = ?", *p.After).Take(&pos).Error; err != nil {
				return page.Result[*Application]{}, problem.BadInput("after is not a position in this list")
			}
			if pos.Deadline == nil {
				lq = lq.Where("deadline IS NULL AND id > ?", pos.ID)
			} else {
				lq = lq.Where("(deadline IS NULL OR (deadline, id) > (?, ?))", *pos.Deadline, pos.ID)
			}
		}
		lq = lq.Order("deadline ASC NULLS LAST, id ASC")
	} else {
		if p.After != nil {
			lq = lq.Where("id < ?", *p.After)
		}
		lq = lq.Order("id DESC")
	}
	if err := lq.Limit(p.First + 1).Find(&rows).Error; err != nil {
		return page.Result[*Application]{}, database.Classify(fmt.Errorf("application: list: %w", err))
	}
	items := make([]*Application, 0, len(rows))
	for _, r := range rows {
		a, err := r.application(today)
		if err != nil {
			return page.Result[*Application]{}, err
		}
		items = append(items, a)
	}
	res := page.Trim(p, items)
	res.TotalCount = int(total)
	return res, nil
}

// Stats computes, for applications handled in orgUnitID's subtree (the
// viewer's whole scope when nil): those concluded in [from, to], those
// concluded by their deadline, and the open ones now past it.
func (s *Service) Stats(ctx context.Context, from, to civil.Date, orgUnitID *uuid.UUID) (*Stats, error) {
	v, err := policy.Require(ctx, policy.ReadApplicationStats)
	if err != nil {
		return nil, err
	}
	if to.Before(from) {
		return nil, problem.BadInput("to is before from")
	}
	path := ""
	if orgUnitID != nil {
		if path, err = s.unitPath(ctx, *orgUnitID); err != nil {
			return nil, err
		}
	}
	if sc := policy.ScopeOf(v, policy.ReadApplicationStats); !sc.All() {
		switch {
		case path == "":
			path = sc.Path
		case !sc.Covers(uuid.Nil, path):
			return nil, problem.Forbidden("outside your jurisdiction")
		}
	}
	var r struct {
		Completed, OnTime, OpenOverdue int
	}
	err = s.db.WithContext(ctx).Raw(`
		SELECT count(*) FILTER (WHERE completed_on BETWEEN @from AND @to) AS completed,
		       count(*) FILTER (WHERE completed_on BETWEEN @from AND @to
		                          AND (deadline IS NULL OR completed_on <= deadline)) AS on_time,
		       count(*) FILTER (WHERE `+openPastDeadlineSQL("@today")+`) AS open_overdue
		FROM applications
		WHERE handling_path LIKE @path`,
		map[string]any{"from": from, "to": to, "today": s.today(), "path": policy.LikePrefix(path)}).Scan(&r).Error
	if err != nil {
		return nil, database.Classify(fmt.Errorf("application: stats: %w", err))
	}
	st := &Stats{Completed: r.Completed, CompletedOnTime: r.OnTime, OpenOverdue: r.OpenOverdue}
	if r.Completed > 0 {
		// Nothing completed is no rate at all (null), not a perfect one.
		rate := float64(r.OnTime) / float64(r.Completed)
		st.OnTimeRate = &rate
	}
	return st, nil
}

// WorkingDaysLeft is the working days from today to the deadline: 0 on the
// deadline itself, negative once past it; nil without a deadline or once
// the case is concluded.
func (s *Service) WorkingDaysLeft(ctx context.Context, a *Application) (*int, error) {
	if a.Deadline == nil || !a.Status.Open() {
		return nil, nil
	}
	cal, err := s.calendar(ctx)
	if err != nil {
		return nil, err
	}
	n := cal.Between(a.Today, *a.Deadline)
	return &n, nil
}

// MissingMaterials lists the item's required materials not handed in.
func MissingMaterials(it *Item, a *Application) []string {
	out := missingMaterials(it.Materials, a.Materials)
	if out == nil {
		out = []string{}
	}
	return out
}

// ViewerCanSubmit reports whether the viewer may take in an application
// for the item at all: as a resident for themself (district-wide items),
// or as staff who may take it in (district-wide at any counter, local
// items inside a handling unit). Whether a particular applicant is in
// the viewer's jurisdiction is decided on submission.
func ViewerCanSubmit(ctx context.Context, it *Item) bool {
	v := auth.ViewerFrom(ctx)
	if v == nil {
		return false
	}
	if v.ResidentID != nil && it.DistrictWide && policy.ReachOf(v, policy.SubmitApplication) >= policy.Self {
		return true
	}
	if policy.ReachOf(v, policy.SubmitApplication) < policy.Subtree {
		return false
	}
	if it.DistrictWide && policy.Allowed(v, policy.TakeDistrictWideApplication) {
		return true
	}
	return policy.ReachOf(v, policy.HandleApplication) >= policy.Subtree
}
