package disability

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/jinjiang/residents/internal/audit"
	"github.com/jinjiang/residents/internal/auth"
	"github.com/jinjiang/residents/internal/civil"
	"github.com/jinjiang/residents/internal/database"
	"github.com/jinjiang/residents/internal/policy"
	"github.com/jinjiang/residents/internal/problem"
)

// RequestInput is the input of RequestService.
type RequestInput struct {
	ResidentID  uuid.UUID
	Kind        ServiceKind
	ProviderID  *uuid.UUID
	ScheduledOn *civil.Date
	Note        *string
}

// UpdateInput is the input of UpdateService.
type UpdateInput struct {
	ID          uuid.UUID
	Status      ServiceStatus
	ScheduledOn *civil.Date
	DeliveredOn *civil.Date
	Note        *string
}

// canReadService: whoever may read the resident, plus the assigned provider.
func canReadService(v *auth.Viewer, r *ServiceRecord) bool {
	return canRead(v, r.ResidentID, r.residentPath) || isAssignedProvider(v, r.ProviderID)
}

// isAssignedProvider: a provider's own reach over disability services is
// the services assigned to it.
func isAssignedProvider(v *auth.Viewer, provider *uuid.UUID) bool {
	sc := policy.ScopeOf(v, policy.UpdateDisabilityService)
	return sc.Reach == policy.Own && provider != nil && sc.ProviderID == *provider
}

func cleanNote(note *string) (*string, error) {
	if note == nil {
		return nil, nil
	}
	n := strings.TrimSpace(*note)
	if n == "" {
		return nil, nil
	}
	if len([]rune(n)) > 500 {
		return nil, problem.New(problem.Invalid, "the note must be at most 500 characters", "input", "note")
	}
	return &n, nil
}

// RequestService records a request for a disability service: by a clerk
// (district-wide), a case worker in jurisdiction, or the resident themself
// from the mini-program.
func (s *Service) RequestService(ctx context.Context, in RequestInput) (*ServiceRecord, error) {
	v, err := policy.Require(ctx, policy.RequestDisabilityService)
	if err != nil {
		return nil, err
	}
	note, err := cleanNote(in.Note)
	if err != nil {
		return nil, err
	}
	var out *ServiceRecord
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		res, err := findResident(ctx, tx, in.ResidentID, false)
		if err != nil {
			return err
		}
		if res == nil {
			if policy.ReachOf(v, policy.RequestDisabilityService) > policy.Self {
				return problem.New(problem.NotFound, "resident not found", "input", "residentId")
			}
			return problem.Forbidden("residents may request services only for themselves")
		}
		if ok, _ := policy.On(v, policy.RequestDisabilityService, policy.Subject{ID: res.ID, OrgPath: res.OrgPath}); !ok {
			return problem.Forbidden("you may not request services for this resident")
		}
		now := s.now()
		row := serviceRow{ID: uuid.Must(uuid.NewV7()), ResidentID: res.ID, Kind: string(in.Kind), Status: string(Requested),
			ProviderID: in.ProviderID, ScheduledOn: in.ScheduledOn, Note: note, RequestedBy: v.ID, CreatedAt: now, UpdatedAt: now}
		if err := tx.WithContext(ctx).Create(&row).Error; err != nil {
			if c, ok := database.IsForeignKeyViolation(err); ok && c == "disability_services_provider_fk" {
				return problem.New(problem.NotFound, "provider not found", "input", "providerId")
			}
			return database.Classify(fmt.Errorf("disability: request service: %w", err))
		}
		if err := audit.Record(ctx, tx, audit.ActionRequestDisabilityService, audit.EntityDisabilityService, &row.ID,
			map[string]any{"residentId": res.ID, "kind": row.Kind, "providerId": row.ProviderID}); err != nil {
			return err
		}
		out = serviceView{Row: row, ResidentPath: res.OrgPath}.record()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateService moves a service record along its workflow (see
// transitions): by staff (CLERK, CASE_WORKER in jurisdiction, ADMIN) or by
// the assigned provider only.
func (s *Service) UpdateService(ctx context.Context, in UpdateInput) (*ServiceRecord, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	note, err := cleanNote(in.Note)
	if err != nil {
		return nil, err
	}
	var out *ServiceRecord
	err = database.Tx(ctx, s.db, func(tx *gorm.DB) error {
		recs, err := findServices(ctx, serviceQuery(ctx, tx).Where("s.id = ?", in.ID).Clauses(clause.Locking{Strength: "UPDATE", Table: clause.Table{Name: "s"}}))
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return problem.New(problem.NotFound, "disability service not found", "input", "id")
		}
		rec := recs[0]
		staff, _ := policy.On(v, policy.UpdateDisabilityService, policy.Subject{ID: rec.ResidentID, OrgPath: rec.residentPath})
		if !staff && !isAssignedProvider(v, rec.ProviderID) {
			return problem.Forbidden("only staff or the assigned provider may update this service")
		}
		if !CanMove(rec.Status, in.Status) {
			return problem.New(problem.InvalidTransition, fmt.Sprintf("a %s service cannot become %s", rec.Status, in.Status), "input", "status")
		}
		if err := s.applyUpdate(rec, in); err != nil {
			return err
		}
		if note != nil {
			rec.Note = note
		}
		rec.UpdatedAt = s.now()
		if err := tx.WithContext(ctx).Model(&serviceRow{}).Where("id = ?", rec.ID).Updates(map[string]any{
			"status": string(rec.Status), "scheduled_on": rec.ScheduledOn, "delivered_on": rec.DeliveredOn,
			"note": rec.Note, "updated_at": rec.UpdatedAt,
		}).Error; err != nil {
			return database.Classify(fmt.Errorf("disability: update service: %w", err))
		}
		detail := map[string]any{"status": rec.Status}
		if rec.ScheduledOn != nil {
			detail["scheduledOn"] = rec.ScheduledOn.String()
		}
		if rec.DeliveredOn != nil {
			detail["deliveredOn"] = rec.DeliveredOn.String()
		}
		if err := audit.Record(ctx, tx, audit.ActionUpdateDisabilityService, audit.EntityDisabilityService, &rec.ID, detail); err != nil {
			return err
		}
		out = rec
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// applyUpdate sets the dates the target status needs.
func (s *Service) applyUpdate(rec *ServiceRecord, in UpdateInput) error {
	switch in.Status {
	case Scheduled:
		if in.ScheduledOn != nil {
			rec.ScheduledOn = in.ScheduledOn
		}
		if rec.ScheduledOn == nil {
			return problem.New(problem.Invalid, "a scheduled service needs a scheduled date", "input", "scheduledOn")
		}
	case Delivered:
		if in.DeliveredOn == nil {
			return problem.New(problem.Invalid, "a delivered service needs the delivery date", "input", "deliveredOn")
		}
		if in.DeliveredOn.After(s.today()) {
			return problem.New(problem.Invalid, "the delivery date cannot be in the future", "input", "deliveredOn")
		}
		rec.DeliveredOn = in.DeliveredOn
	}
	rec.Status = in.Status
	return nil
}

// ServicesByResidents lists each resident's service records, newest
// first, keeping only those the viewer may read (loader).
func (s *Service) ServicesByResidents(ctx context.Context, residentIDs []uuid.UUID) (map[uuid.UUID][]*ServiceRecord, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := findServices(ctx, serviceQuery(ctx, s.db).Where("s.resident_id = ANY(?)", database.UUIDs(residentIDs)).Order("s.id DESC"))
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID][]*ServiceRecord, len(residentIDs))
	for _, id := range residentIDs {
		out[id] = []*ServiceRecord{}
	}
	for _, r := range recs {
		if canReadService(v, r) {
			out[r.ResidentID] = append(out[r.ResidentID], r)
		}
	}
	return out, nil
}

// ServiceRecord returns one record (node fetch); nil when there is none.
func (s *Service) ServiceRecord(ctx context.Context, id uuid.UUID) (*ServiceRecord, error) {
	v, err := auth.RequireViewer(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := findServices(ctx, serviceQuery(ctx, s.db).Where("s.id = ?", id))
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	if !canReadService(v, recs[0]) {
		return nil, problem.Forbidden("you may not read this service record")
	}
	return recs[0], nil
}

// HasServed reports whether the provider is assigned a (not cancelled)
// service for the resident: it may then see the resident's name, masked ID
// number, gender and age.
func (s *Service) HasServed(ctx context.Context, providerID, residentID uuid.UUID) (bool, error) {
	var n int64
	err := s.db.WithContext(ctx).Table("disability_services").
		Where("provider_id = ? AND resident_id = ? AND status <> 'CANCELLED'", providerID, residentID).Limit(1).Count(&n).Error
	if err != nil {
		return false, database.Classify(fmt.Errorf("disability: has served: %w", err))
	}
	return n > 0, nil
}
