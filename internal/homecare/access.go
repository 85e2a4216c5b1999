package homecare

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// readFilter is the SQL predicate over service_orders (alias o) of the
// orders v may read: by its ReadServiceOrders scope (district, the
// residents of its subtree, its own record, its provider's orders), else
// for a viewer allowed ReadAssignedOrders only those assigned to it.
func readFilter(v *auth.Viewer) (string, []any, error) {
	if v == nil {
		return "", nil, problem.ErrUnauthenticated
	}
	if policy.Allowed(v, policy.ReadServiceOrders) {
		sc := policy.ScopeOf(v, policy.ReadServiceOrders)
		if sc.Reach == policy.Own || sc.Reach == policy.Served {
			return "o.provider_id = ?", []any{sc.ProviderID}, nil
		}
		where, args := sc.Where("", "o.resident_id")
		return where, args, nil
	}
	if policy.Allowed(v, policy.ReadAssignedOrders) && v.Kind == auth.SubjectUser {
		return "o.worker_id = ?", []any{v.ID}, nil
	}
	return "", nil, problem.Forbidden("your role does not allow this")
}

// reaches reports whether v may take action a on order o: district; the
// resident's org subtree; the resident themself (or, for confirmations,
// a proxy: mayConfirmFor); the order's provider; and for PerformVisit,
// whose reach is the worker's own assignments, the assigned worker.
func (s *Service) reaches(ctx context.Context, db *gorm.DB, v *auth.Viewer, a policy.Action, o *orderRow) (bool, error) {
	sc := policy.ScopeOf(v, a)
	switch sc.Reach {
	case policy.District:
		return true, nil
	case policy.Subtree:
		f, err := factsOf(ctx, db, o.ResidentID)
		if err != nil || f == nil {
			return false, err
		}
		return strings.HasPrefix(f.OrgPath, sc.Path), nil
	case policy.Self:
		if sc.ResidentID == o.ResidentID {
			return true, nil
		}
	case policy.Own, policy.Served:
		if sc.ProviderID != o.ProviderID {
			return false, nil
		}
		if a == policy.PerformVisit {
			return o.WorkerID != nil && *o.WorkerID == v.ID, nil
		}
		return true, nil
	}
	if a == policy.ConfirmVisit || a == policy.DisputeVisit || a == policy.CreateServiceOrder || a == policy.CancelServiceOrder {
		return s.mayConfirmFor(ctx, v, a, o.ResidentID)
	}
	return false, nil
}

// mayConfirmFor answers "may this viewer act in the mini-program for
// resident R" (confirm a visit, dispute one, order or cancel one) by the
// one rule, policy.ActForAction: the resident's own bound account, or a
// family proxy of the resident whose active, consented link holds SPEND.
func (s *Service) mayConfirmFor(ctx context.Context, v *auth.Viewer, a policy.Action, residentID uuid.UUID) (bool, error) {
	if v == nil || v.Kind != auth.SubjectWechat {
		return false, nil
	}
	if _, err := policy.ActForAction(ctx, s.proxies, a, residentID); err != nil {
		if errors.Is(err, problem.ErrForbidden) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// requireOn loads order id for update and checks v may take a on it; an
// order it may not see is NOT_FOUND.
func (s *Service) requireOn(ctx context.Context, tx *gorm.DB, v *auth.Viewer, a policy.Action, id uuid.UUID, field string) (*orderRow, error) {
	o, err := lockOrder(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, notFound(field)
	}
	ok, err := s.reaches(ctx, tx, v, a, o)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound(field)
	}
	return o, nil
}
