package homecare

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

func workerOf(u *auth.User) *Worker {
	w := &Worker{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Active: u.Active}
	if u.ProviderID != nil {
		w.ProviderID = *u.ProviderID
	}
	return w
}

// isWorker: the account performs visits (the policy's question, not a
// role compared here).
func isWorker(u *auth.User) bool { return policy.RolesMay(u.Roles, policy.PerformVisit) }

// viewerProvider is the provider a ManageCareWorkers viewer manages.
func viewerProvider(ctx context.Context, a policy.Action) (*auth.Viewer, uuid.UUID, error) {
	v, err := policy.Require(ctx, a)
	if err != nil {
		return nil, uuid.Nil, err
	}
	sc := policy.ScopeOf(v, a)
	if sc.Reach != policy.Own {
		return nil, uuid.Nil, problem.Forbidden("only a provider's own users manage this")
	}
	return v, sc.ProviderID, nil
}

// NewWorker is the input of CreateWorker.
type NewWorker struct {
	Username    string
	Password    string
	DisplayName string
}

// CreateWorker creates a CARE_WORKER account of the viewer's provider:
// one login per worker, so each check-in is accountable to one person.
func (s *Service) CreateWorker(ctx context.Context, in NewWorker) (*Worker, error) {
	_, pid, err := viewerProvider(ctx, policy.ManageCareWorkers)
	if err != nil {
		return nil, err
	}
	var out *Worker
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		u, err := s.users.CreateUserTx(ctx, tx, auth.NewUser{Username: in.Username, Password: in.Password,
			DisplayName: strings.TrimSpace(in.DisplayName), Roles: []auth.Role{policy.VisitStaffRole}, ProviderID: &pid})
		if err != nil {
			return err
		}
		out = workerOf(u)
		return audit.Record(ctx, tx, audit.ActionCreateCareWorker, audit.EntityCareWorker, &u.ID, nil)
	})
	return out, err
}

// UpdateWorker renames, deactivates or reactivates one of the viewer's
// provider's workers. Deactivation ends every session of the worker at
// once on every instance (auth.EndSessions).
func (s *Service) UpdateWorker(ctx context.Context, id uuid.UUID, displayName *string, active *bool) (*Worker, error) {
	_, pid, err := viewerProvider(ctx, policy.ManageCareWorkers)
	if err != nil {
		return nil, err
	}
	if displayName != nil {
		t := strings.TrimSpace(*displayName)
		displayName = &t
	}
	var out *Worker
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		u, err := s.users.UserTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if u == nil || !isWorker(u) || u.ProviderID == nil || *u.ProviderID != pid {
			return problem.New(problem.NotFound, "护理员不存在", "input", "id")
		}
		u, err = s.users.UpdateUserTx(ctx, tx, id, displayName, active)
		if err != nil {
			return err
		}
		out = workerOf(u)
		detail := map[string]any{}
		if active != nil {
			detail["active"] = *active
		}
		return audit.Record(ctx, tx, audit.ActionUpdateCareWorker, audit.EntityCareWorker, &id, detail)
	})
	return out, err
}

// Workers lists the viewer's provider's workers.
func (s *Service) Workers(ctx context.Context) ([]*Worker, error) {
	_, pid, err := viewerProvider(ctx, policy.ManageCareWorkers)
	if err != nil {
		return nil, err
	}
	us, err := s.users.ProviderUsers(ctx, pid, policy.VisitStaffRole)
	if err != nil {
		return nil, err
	}
	out := make([]*Worker, len(us))
	for i, u := range us {
		out[i] = workerOf(u)
	}
	return out, nil
}

// Worker returns one worker to its provider's users, to ADMIN, or to the
// worker themself; nil to anyone else.
func (s *Service) Worker(ctx context.Context, id uuid.UUID) (*Worker, error) {
	v := auth.ViewerFrom(ctx)
	if v == nil {
		return nil, problem.ErrUnauthenticated
	}
	m, err := s.users.UsersByIDs(ctx, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	u := m[id]
	if u == nil || !isWorker(u) || u.ProviderID == nil {
		return nil, nil
	}
	if v.Kind == auth.SubjectUser && v.ID == id {
		return workerOf(u), nil
	}
	sc := policy.ScopeOf(v, policy.ManageCareWorkers)
	if sc.All() || (sc.Reach == policy.Own && sc.ProviderID == *u.ProviderID) {
		return workerOf(u), nil
	}
	// Whoever may read an order sees its worker's name.
	sc = policy.ScopeOf(v, policy.ReadServiceOrders)
	if sc.All() || (sc.Reach == policy.Own && sc.ProviderID == *u.ProviderID) {
		return workerOf(u), nil
	}
	return nil, nil
}
